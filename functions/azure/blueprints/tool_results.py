"""``tool-results``: a tool's result back from AWS; records it and sends the next step."""

import azure.functions as func
from adapters import consume, describe
from runtime import CONNECTION, get_runtime

from agentcage.constants import TOOL_RESULTS_QUEUE
from agentcage.coordinator import Outbox
from agentcage.envelopes import ToolResult

bp = func.Blueprint()


def _fail(result: ToolResult, error: Exception) -> Outbox:
    why = describe(error)
    reason = f"the result of {result.tool} (request {result.request_id}) could not be recorded; {why}"
    return get_runtime().coordinator.fail_task(result.task_id, reason, code="result_failed")


@bp.function_name("record_tool_result")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=TOOL_RESULTS_QUEUE, connection=CONNECTION)
def record_tool_result(msg: func.ServiceBusMessage) -> None:
    """Record the result once (a duplicate changes nothing) and advance the task when its step is done."""
    runtime = get_runtime()
    consume(
        msg,
        ToolResult,
        runtime.coordinator.record_result,
        runtime.dispatch,
        queue=TOOL_RESULTS_QUEUE,
        on_last_attempt=_fail,
        vouch=runtime.coordinator.vouches_for_result,
    )
