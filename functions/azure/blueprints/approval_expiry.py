"""Timer ``expire_approvals``: approvals nobody decided expire, and their tasks move on without the call.

Every five minutes (NCRONTAB, seconds first) the coordinator expires each pending approval past its
``expires_at`` (``Coordinator.expire_overdue_approvals``): the model hears ``approval_expired`` at the
task's next step, which is sent here. A send that fails raises (the invocation is logged as failed);
the next run sends the step again once it is overdue, so no task is left waiting for a person.
"""

import logging

import azure.functions as func
from runtime import get_runtime

bp = func.Blueprint()

SCHEDULE = "0 */5 * * * *"
"""Every five minutes, on the minute (a Functions NCRONTAB expression: second minute hour day month dow)."""

_log = logging.getLogger("agentcage.functions")


@bp.function_name("expire_approvals")
@bp.timer_trigger(arg_name="timer", schedule=SCHEDULE, run_on_startup=False, use_monitor=True)
def expire_approvals(timer: func.TimerRequest) -> None:
    """Expire overdue approvals and send the next steps of their tasks."""
    if timer.past_due:
        _log.info("approval expiry is running late (the host was down or busy)")
    runtime = get_runtime()
    outbox = runtime.coordinator.expire_overdue_approvals()
    if outbox:
        _log.info("expired approvals: sending %s", outbox.summary())
        runtime.dispatch(outbox)
