"""``GET /api/approvals/{approval_id}`` shows what is being approved; ``POST`` decides it (the task's
requester, its approvers and auditors only see it; the others get 404)."""

import azure.functions as func
from adapters import headers_of, http_response
from runtime import get_runtime

bp = func.Blueprint()


@bp.function_name("approval")
@bp.route(route="approvals/{approval_id}", methods=[func.HttpMethod.GET, func.HttpMethod.POST])
def approval(req: func.HttpRequest) -> func.HttpResponse:
    """GET: tool, arguments, risk reasons, status. POST ``{decision: approve|deny, comment?}``."""
    approval_id = req.route_params.get("approval_id", "")
    answer = get_runtime().http.approval(req.method, approval_id, headers_of(req), req.get_body() or b"")
    return http_response(answer)
