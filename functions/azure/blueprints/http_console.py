"""``/api/console``: the approval console for people (pages, its two assets, and the decision route).

The pages are :class:`agentcage.console.Console`'s; this blueprint only turns the Functions request
into a ``ConsoleRequest`` and the answer back. Who is signed in is App Service Authentication's
principal, read by the coordinator's one principal source; a decision goes to the same
``CoordinatorHttp.approval`` that ``POST /api/approvals/{id}`` runs. Two functions because a route's
catch-all needs at least one segment in the local runtime: ``console`` and ``console/{*path}``.
"""

from urllib.parse import urlsplit

import azure.functions as func
from adapters import headers_of
from runtime import Runtime, get_runtime

from agentcage.console import Console, ConsoleRequest

bp = func.Blueprint()


def console_of(runtime: Runtime) -> Console:
    """The console over ``runtime``'s coordinator (cheap: it holds references, no connections)."""
    principals = runtime.principals  # the runtime's one source: a page and its decision name one person
    return Console(
        runtime.coordinator,
        access=runtime.coordinator.access,
        decide=lambda approval_id, headers, body: runtime.http.approval("POST", approval_id, headers, body),
        # A page is read as the person deciding from it: locally, the development approver by default.
        principal_of=lambda headers: principals.reader(headers, default="approver"),
    )


def _answer(req: func.HttpRequest) -> func.HttpResponse:
    parts = urlsplit(req.url)
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    request = ConsoleRequest.of(req.method, path, headers_of(req), req.get_body() or b"")
    response = console_of(get_runtime()).handle(request)
    return func.HttpResponse(response.body, status_code=response.status, headers=response.headers)


# HEAD beside GET: Console.handle answers it (the headers without the body); without it in the list
# the host answered 405 before the console saw the request.
@bp.function_name("console_home")
@bp.route(route="console", methods=[func.HttpMethod.GET, func.HttpMethod.HEAD])
def console_home(req: func.HttpRequest) -> func.HttpResponse:
    """The landing page: pending approvals."""
    return _answer(req)


@bp.function_name("console")
@bp.route(route="console/{*path}", methods=[func.HttpMethod.GET, func.HttpMethod.HEAD, func.HttpMethod.POST])
def console(req: func.HttpRequest) -> func.HttpResponse:
    """Every other console page, its assets, and ``POST approvals/{id}/decision``."""
    return _answer(req)
