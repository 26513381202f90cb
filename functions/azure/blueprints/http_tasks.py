"""``POST /api/tasks`` starts a task for the caller; ``GET /api/tasks`` lists theirs; ``GET /api/tasks/{id}``
shows one (to its requester, its approvers and auditors only: the others get 404)."""

import azure.functions as func
from adapters import headers_of, http_response
from runtime import get_runtime

bp = func.Blueprint()


@bp.function_name("create_task")
@bp.route(route="tasks", methods=[func.HttpMethod.POST])
def create_task(req: func.HttpRequest) -> func.HttpResponse:
    """202 ``{task_id, status_url, traceparent, requester}``; the first step goes to ``agent-steps``."""
    return http_response(get_runtime().http.tasks(req.method, headers_of(req), req.get_body() or b""))


@bp.function_name("list_tasks")
@bp.route(route="tasks", methods=[func.HttpMethod.GET])
def list_tasks(req: func.HttpRequest) -> func.HttpResponse:
    """The caller's tasks (an auditor's: all), newest first: ``limit`` and the opaque ``cursor``."""
    query = {str(key): str(value) for key, value in req.params.items()}
    return http_response(get_runtime().http.tasks(req.method, headers_of(req), b"", query))


@bp.function_name("get_task")
@bp.route(route="tasks/{task_id}", methods=[func.HttpMethod.GET])
def get_task(req: func.HttpRequest) -> func.HttpResponse:
    """State, budget used and left, steps with their calls and decisions, pending approval, outcome."""
    task_id = req.route_params.get("task_id", "")
    return http_response(get_runtime().http.task(req.method, task_id, headers_of(req)))
