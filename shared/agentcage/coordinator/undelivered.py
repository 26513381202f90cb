"""The sweep of the coordinator's outbox: what it claimed it would send, sent again if it never arrived.

Two claims carry an outbox entry written in the claim's own transaction: advancing past a step
(``ADVANCE``: the next ``AgentStep``) and an approval's one request (``APPROVED_REQUEST``: its
``ToolRequest``). The coordinator does not send messages itself: it returns them to its host, which
sends them after the operation. A crash between the claim and the send is recovered in two ways:

* **by redelivery**, when the operation came from a queue (a tool result, an agent step, a child's
  end). Service Bus (and the local queues) redeliver a message whose function failed or died; the
  redelivery finds the claim under its own claimant and emits the same message again, within seconds.
  That covers every advance that queues drive.
* **by this sweep**, when nothing redelivers: a person's ``POST /api/approvals/{id}`` (they may never
  repeat it after a 502) and the expiry timer. The timer calls :func:`resend_undelivered` for each
  running task: an entry older than ``older_than_seconds`` (longer than the ``agent-steps`` lock, so a
  step merely being slow is not sent twice) is sent again while its message has not taken effect,
  and marked delivered once it has (a step that has its checkpoint; a request whose call has its
  result).

The hot path never marks an entry delivered: that would cost a ledger request per step and per
approval, and the next checkpoint (or the call's result) already proves the message arrived. So an
entry stays undelivered until a sweep sees its effect, and one of a task that ended is left to its TTL.
Sending again is harmless: each message keeps its own stable queue message id (Service Bus duplicate
detection drops a copy that did arrive), a step already checkpointed re-runs nothing, and a request
carries its consume-once reservation.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE
from agentcage.coordinator.messages import Outbox
from agentcage.envelopes import AgentStep, ToolRequest, parse_envelope
from agentcage.errors import AgentcageError
from agentcage.ledger.models import TaskRecord

if TYPE_CHECKING:
    from agentcage.coordinator.core import CoordinatorCore

__all__ = ["resend_undelivered"]

_log = logging.getLogger("agentcage.coordinator")


def resend_undelivered(core: CoordinatorCore, task: TaskRecord, *, older_than_seconds: float) -> Outbox:
    """What to send again of ``task``'s outbox entries older than ``older_than_seconds`` whose message
    has not taken effect; those that have are marked delivered. Reads nothing more when there are none."""
    entries = core.ledger.undelivered(task_id=task.task_id, older_than_seconds=older_than_seconds)
    if not entries:
        return Outbox()
    last, _ = core._checkpoint(task.task_id)
    results = (
        core._results(task.task_id) if any(e.destination == TOOL_REQUESTS_QUEUE for e in entries) else {}
    )
    outbox = Outbox()
    for entry in entries:
        try:
            if entry.destination == AGENT_STEPS_QUEUE:
                step = parse_envelope(AgentStep, entry.body)
                arrived = step.step <= last  # its checkpoint exists: it ran
                if not arrived:
                    outbox.add_step(task, step)
                    core._audit(task, "step_resent", {"to_step": step.step}, step=step.step - 1)
            elif entry.destination == TOOL_REQUESTS_QUEUE:
                request = parse_envelope(ToolRequest, entry.body)
                arrived = request.message_id in results  # the call has its result
                if not arrived:
                    outbox.tool_requests.append(request)
                    data = {
                        "request_id": request.message_id,
                        "tool": request.tool,
                        "approval_id": request.approval_id,
                    }
                    core._audit(task, "tool_request_resent", data, step=request.step)
            else:
                _log.warning(
                    "outbox entry %s of task %s has no known destination", entry.message_id, task.task_id
                )
                continue
        except AgentcageError as error:  # an unreadable entry is left for a person to look at
            _log.warning(
                "outbox entry %s of task %s unreadable: %s", entry.message_id, task.task_id, error.message
            )
            continue
        if arrived:
            core.ledger.mark_delivered(task.task_id, entry.message_id)
    return outbox
