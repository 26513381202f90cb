"""``agent-steps``: one model step of a task (the governance gate on every call it proposes)."""

import azure.functions as func
from adapters import consume, describe
from runtime import CONNECTION, get_runtime

from agentcage.constants import AGENT_STEPS_QUEUE
from agentcage.coordinator import Outbox
from agentcage.envelopes import AgentStep

bp = func.Blueprint()


def _fail(step: AgentStep, error: Exception) -> Outbox:
    why = describe(error)
    reason = f"step {step.step} failed on every delivery; last error {why}"
    return get_runtime().coordinator.fail_task(step.task_id, reason)


@bp.function_name("run_agent_step")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=AGENT_STEPS_QUEUE, connection=CONNECTION)
def run_agent_step(msg: func.ServiceBusMessage) -> None:
    """Run the step; a failure (model timeout) raises so the message is redelivered and resumes."""
    runtime = get_runtime()
    consume(
        msg,
        AgentStep,
        runtime.coordinator.run_step,
        runtime.dispatch,
        queue=AGENT_STEPS_QUEUE,
        on_last_attempt=_fail,
        vouch=runtime.coordinator.vouches_for_step,
    )
