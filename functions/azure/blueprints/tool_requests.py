"""``tool-requests``: the bridge to AWS (Entra token -> task-named STS session -> SQS with trace carriers).

Nothing is forwarded on a message's own say-so. The bridge sends to SQS as the coordinator (the
task's session of the federated bridge role, the one sender the executor accepts), so a request
anyone with send rights on this Service Bus queue put there would reach the executor as the
coordinator's. Before it sends, the ledger must vouch for the request
(``Coordinator.check_dispatched``: the task exists, the call was dispatched under this message id,
and it was sent as exactly this request, its reservation included). One it does not vouch for is
never forwarded: each delivery logs it (with its trace id) and raises, so Service Bus dead-letters it
after its max deliveries, and on the last one it is counted (``UnvouchedMessages``, reason
``tool-requests``) and ends no task (:func:`adapters.consume`).

A request that cannot be bridged on any delivery (AWS unreachable, the federated role refused) is
dead-lettered by Service Bus; before that, its last delivery ends the task ``failed`` with the reason,
so the task does not wait for a result that will never come, but only when the ledger vouches for it:
anyone able to send to the queue could otherwise end any task. The bridge serialises with the same
size limit the parser enforces (``agentcage.envelopes.MAX_BODY_BYTES``), so a request that parsed is
never too large to forward.
"""

import logging

import azure.functions as func
from adapters import consume, describe
from runtime import CONNECTION, get_runtime

from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.coordinator import Outbox
from agentcage.envelopes import ToolRequest, dump_envelope
from agentcage.errors import NotFoundError
from agentcage.monitoring_names import LOG_CODE, LOG_EVENT, LOG_TASK_ID, LOG_TRACE_ID

bp = func.Blueprint()

_log = logging.getLogger("agentcage.functions")

EVENT_NOT_FORWARDED = "request_not_forwarded"
"""The ``event`` of the log line of a request the ledger does not vouch for (not sent to AWS)."""


def _send_to_aws(request: ToolRequest) -> None:
    runtime = get_runtime()
    try:
        runtime.coordinator.check_dispatched(request)
    except NotFoundError as unvouched:
        _log.warning(
            "tool request %s of task %s is not one the coordinator dispatched; not forwarded to AWS: %s",
            request.message_id,
            request.task_id,
            unvouched.message,
            extra={
                LOG_EVENT: EVENT_NOT_FORWARDED,
                LOG_CODE: unvouched.code,
                LOG_TASK_ID: request.task_id,
                LOG_TRACE_ID: request.trace.trace_id,
            },
        )
        raise
    runtime.bridge.send(request.task_id, dump_envelope(request), request.trace, message_id=request.message_id)


def _fail(request: ToolRequest, error: Exception) -> Outbox:
    reason = (
        f"the call of {request.tool} (request {request.message_id}) could not be sent to AWS on any "
        f"delivery; last error {describe(error)}"
    )
    return get_runtime().coordinator.fail_task(request.task_id, reason, code="bridge_failed")


@bp.function_name("bridge_to_aws")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=TOOL_REQUESTS_QUEUE, connection=CONNECTION)
def bridge_to_aws(msg: func.ServiceBusMessage) -> None:
    """Forward one request the ledger vouches for; a failed send, or an unvouched request, raises, so
    Service Bus redelivers it (then dead-letters it)."""
    runtime = get_runtime()
    consume(
        msg,
        ToolRequest,
        _send_to_aws,
        runtime.dispatch,
        queue=TOOL_REQUESTS_QUEUE,
        on_last_attempt=_fail,
        vouch=runtime.coordinator.vouches_for_request,
    )
