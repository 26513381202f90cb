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
  repeat it after a 502) and the expiry timer. The timer calls :func:`resend_undelivered` for every
  task that has not ended (running, waiting for another approval, or driven by an MCP client).

When an entry is sent again depends on what it carries:

* **an agent step** once it is older than ``older_than_seconds`` (longer than the ``agent-steps``
  lock, so a step merely being slow is not sent twice) and its checkpoint does not exist. A copy never
  calls the model twice in sequence: a step whose checkpoint exists is re-emitted, never re-run
  (``run_step`` reads the checkpoint before the model call). A copy running *at the same time* as an
  original that sat in a backlog past the delay is dropped by Service Bus duplicate detection within
  its window (the same message id); past it, both may call the model, the checkpoint is saved once,
  and the loser gives its reservations back (its model call is charged, never unrecorded).
* **a tool request** must arrive while it is valid: its ``expires_at`` is its reservation's (five
  minutes by default), after which the executor refuses it. So it is sent again once older than
  :data:`REQUEST_RESEND_SHARE` of its lifetime (or ``older_than_seconds``, if shorter), unless less
  than that share of its lifetime remains (a copy delayed on the way would be refused as expired).
  A copy is harmless: same message id (Service Bus drops it) and reservation (consumed
  once; the executor answers a copy with the answer it kept).
* **a tool request past its expiry** with no result: if its reservation was never consumed the call
  never ran and never can (the reservation is released first, a conditional write that a consume
  cannot pass afterwards), so the approval, still unspent, is dispatched again under a fresh
  reservation and request, exactly as its first dispatch
  (:meth:`~agentcage.coordinator.decisions.DecisionMixin.redispatch_expired`). A consumed one ran or
  runs: the executor answers it (or its crash recovery does).

An entry is marked delivered once its message took effect (a step that has its checkpoint; a request
whose call has its result, or that a fresh request replaced). The hot path never marks an entry
delivered: that would cost a ledger request per step and per approval, and the next checkpoint (or the
call's result) already proves the message arrived. So an entry stays undelivered until a sweep sees its
effect, and one of a task that ended is left to its TTL.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Final

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE
from agentcage.coordinator.messages import Outbox
from agentcage.envelopes import AgentStep, ToolRequest, parse_envelope
from agentcage.errors import AgentcageError
from agentcage.ledger.models import TaskRecord

if TYPE_CHECKING:
    from agentcage.coordinator.decisions import DecisionMixin
    from agentcage.ledger.claims import OutboxEntry

__all__ = ["REQUEST_RESEND_SHARE", "resend_undelivered"]

REQUEST_RESEND_SHARE: Final = 1 / 3
"""The share of a tool request's lifetime after which an unanswered one is sent again: the timer runs
every five minutes and a request lives five minutes by default, so a third leaves it two chances."""

_log = logging.getLogger("agentcage.coordinator")


def resend_undelivered(core: DecisionMixin, task: TaskRecord, *, older_than_seconds: float) -> Outbox:
    """What to send again of ``task``'s outbox entries whose message has not taken effect: steps older
    than ``older_than_seconds``, requests older than their own resend delay; those that have taken
    effect are marked delivered. Reads nothing more when there are none."""
    now = core.ledger.now()
    # A request may be due sooner than a step: read every entry either could be due by.
    soonest = min(older_than_seconds, core.settings.budget.reservation_ttl_seconds * REQUEST_RESEND_SHARE)
    entries = core.ledger.undelivered(task_id=task.task_id, older_than_seconds=max(0.0, soonest))
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
                if not arrived and _age(entry, now) >= older_than_seconds:
                    outbox.add_step(task, step)
                    core._audit(task, "step_resent", {"to_step": step.step}, step=step.step - 1)
            elif entry.destination == TOOL_REQUESTS_QUEUE:
                request = parse_envelope(ToolRequest, entry.body)
                arrived = request.message_id in results  # the call has its result
                if not arrived:
                    again, arrived = _resend_request(
                        core, task, entry, request, now=now, older_than_seconds=older_than_seconds
                    )
                    outbox.extend(again)
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


def _resend_request(
    core: DecisionMixin,
    task: TaskRecord,
    entry: OutboxEntry,
    request: ToolRequest,
    *,
    now: datetime,
    older_than_seconds: float,
) -> tuple[Outbox, bool]:
    """What an unanswered request needs now (itself while it is valid and due, a fresh dispatch once it
    expired unconsumed), and whether its entry is done with (a fresh request replaced it)."""
    if request.is_expired(now):
        return core.redispatch_expired(task, request)
    lifetime = (request.expires_at - request.issued_at).total_seconds()
    if _age(entry, now) < min(older_than_seconds, lifetime * REQUEST_RESEND_SHARE):
        return Outbox(), False  # may be merely in flight
    if (request.expires_at - now).total_seconds() < lifetime * REQUEST_RESEND_SHARE:
        # Too close to its expiry: a copy delayed on the way would be refused as expired, and that
        # refusal would be the call's answer. Its expiry is awaited and the call dispatched afresh.
        return Outbox(), False
    data = {"request_id": request.message_id, "tool": request.tool, "approval_id": request.approval_id}
    core._audit(task, "tool_request_resent", data, step=request.step)
    return Outbox(tool_requests=[request]), False


def _age(entry: OutboxEntry, now: datetime) -> float:
    return (now - entry.created_at).total_seconds()
