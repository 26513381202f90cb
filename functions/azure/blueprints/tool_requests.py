"""``tool-requests``: the bridge to AWS (Entra token -> task-named STS session -> SQS with trace carriers).

A request that cannot be bridged on any delivery (AWS unreachable, the federated role refused) is
dead-lettered by Service Bus; before that, its last delivery ends the task ``failed`` with the reason,
so the task does not wait for a result that will never come, but only when the ledger vouches for it
(it is exactly a dispatched call's checkpointed request): anyone able to send to the queue could
otherwise end any task. The bridge serialises with the same size limit the parser enforces
(``agentcage.envelopes.MAX_BODY_BYTES``), so a request that parsed is never too large to forward.
"""

import azure.functions as func
from adapters import consume, describe
from runtime import CONNECTION, get_runtime

from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.coordinator import Outbox
from agentcage.envelopes import ToolRequest, dump_envelope

bp = func.Blueprint()


def _send_to_aws(request: ToolRequest) -> None:
    get_runtime().bridge.send(
        request.task_id, dump_envelope(request), request.trace, message_id=request.message_id
    )


def _fail(request: ToolRequest, error: Exception) -> Outbox:
    reason = (
        f"the call of {request.tool} (request {request.message_id}) could not be sent to AWS on any "
        f"delivery; last error {describe(error)}"
    )
    return get_runtime().coordinator.fail_task(request.task_id, reason, code="bridge_failed")


@bp.function_name("bridge_to_aws")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=TOOL_REQUESTS_QUEUE, connection=CONNECTION)
def bridge_to_aws(msg: func.ServiceBusMessage) -> None:
    """Forward one authorised request; a failed send raises, so Service Bus redelivers (then dead-letters)."""
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
