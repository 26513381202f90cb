"""``tool-requests``: the bridge to AWS (Entra token -> task-named STS session -> SQS with trace carriers)."""

import azure.functions as func
from adapters import consume
from runtime import CONNECTION, get_runtime

from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.envelopes import ToolRequest, dump_envelope

bp = func.Blueprint()


def _send_to_aws(request: ToolRequest) -> None:
    get_runtime().bridge.send(
        request.task_id, dump_envelope(request), request.trace, message_id=request.message_id
    )


@bp.function_name("bridge_to_aws")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=TOOL_REQUESTS_QUEUE, connection=CONNECTION)
def bridge_to_aws(msg: func.ServiceBusMessage) -> None:
    """Forward one authorised request; a failed send raises, so Service Bus redelivers (then dead-letters)."""
    consume(msg, ToolRequest, _send_to_aws, get_runtime().dispatch, queue=TOOL_REQUESTS_QUEUE)
