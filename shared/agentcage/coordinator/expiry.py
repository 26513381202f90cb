"""Approvals nobody decided: expired by a timer, so the task moves on instead of waiting for ever.

Before this, an approval only expired when someone POSTed a decision after its expiry (410). A timer
(the Function App's ``approval_expiry``, the local host's timer loop) now calls
:meth:`ExpiryMixin.expire_overdue_approvals` every few minutes. For every task awaiting approval it
marks each pending approval past its ``expires_at`` ``expired`` (one conditional write: a decision
that lands first wins) and does what a late POST does: the call's result says ``approval_expired``,
the model hears it at the task's next step.

An external task (an MCP client's) has no single current step: each of its calls is a step of its own,
and any of them may wait for a person, so the sweep looks at every call of it that has no result yet,
not only its latest; :meth:`ExpiryMixin.expire_if_overdue` does the same for one approval when the
client asks after it before the timer ran.

Finding them reads every task (``Ledger.list_tasks``: a DynamoDB Scan of the ledger table, the same
read the sweeper does). That is fine at this scale (a scan per five minutes); a large deployment adds
a sparse index on pending approvals' expiry.

The next step is returned to send, and a send can fail after the task has moved on. So the same pass
sweeps the outbox of every task that has not ended (running, awaiting another approval, or driven by
an MCP client; :mod:`agentcage.coordinator.undelivered`): a next step that never ran is sent again
once older than ``resend_after_seconds``; an approved call's request that has no result is sent again
while it is still valid, and dispatched afresh once it expired unconsumed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from agentcage.coordinator.decisions import DecisionMixin
from agentcage.coordinator.messages import Outbox
from agentcage.coordinator.undelivered import resend_undelivered
from agentcage.errors import AgentcageError, TaskNotFoundError
from agentcage.ledger.models import ApprovalStatus, TaskRecord, TaskState

__all__ = ["DEFAULT_RESEND_AFTER_SECONDS", "ExpiryMixin"]

_log = logging.getLogger("agentcage.coordinator")

DEFAULT_RESEND_AFTER_SECONDS: Final = 900.0
"""How long a claimed next step may stay unrun before the sweep sends it again (longer than the
``agent-steps`` lock, so a step that is merely slow is not sent twice). A tool request is sent again
sooner, within its own lifetime (:data:`agentcage.coordinator.undelivered.REQUEST_RESEND_SHARE`)."""

_EVERY_TASK: Final = 1_000_000  # list_tasks returns the newest first: read them all, the oldest matter most


class ExpiryMixin(DecisionMixin):
    """``expire_overdue_approvals`` (the timer) and ``expire_if_overdue`` (one approval)."""

    def expire_overdue_approvals(
        self, now: datetime | None = None, *, resend_after_seconds: float = DEFAULT_RESEND_AFTER_SECONDS
    ) -> Outbox:
        """Expire every pending approval past its expiry and return what to send (the tasks' next steps).

        A task whose expiry fails (its ledger item is unreadable, say) is logged and left for the next
        run; the others go on.
        """
        at = now or self.ledger.now()
        outbox = Outbox()
        for task in self.ledger.list_tasks(limit=_EVERY_TASK):
            try:
                if task.state.is_final:
                    outbox.extend(self._report_unreported_child(task))
                    continue
                if task.driver == "external":
                    outbox.extend(self._expire_external_approvals(task, at))
                elif task.state is TaskState.AWAITING_APPROVAL:
                    outbox.extend(self._expire_task_approvals(task, at))
                # Any task not ended may hold a lost send: an MCP task's approved call, an approved
                # call of a step whose other approval is still pending, a running task's next step.
                outbox.extend(self._resend_after_expiry(task, at, resend_after_seconds))
            except AgentcageError as error:
                _log.warning("approvals of task %s not expired now: %s", task.task_id, error.message)
        return outbox

    def _report_unreported_child(self, task: TaskRecord) -> Outbox:
        """Hand a child's end to a parent still waiting on it.

        A child the AWS dead-letters Lambda (or the local host) failed directly in the ledger never went
        through :meth:`fail_task`, so its parent's ``delegate`` call was never answered and the parent,
        running with nothing in flight, would wait forever. Reporting records the answer once.
        """
        parent_id = task.context.get("parent_task_id")
        if not isinstance(parent_id, str):
            return Outbox()
        try:
            parent = self.ledger.get_task(parent_id)
        except TaskNotFoundError:
            return Outbox()
        if parent.state is not TaskState.RUNNING:
            return Outbox()
        request_id = task.context.get("parent_request_id")
        if any(record.request_id == request_id for record in self.ledger.tool_results(parent_id)):
            return Outbox()  # answered already: the parent's own messages carry it on
        return self._report_to_parent(task.task_id)

    def expire_if_overdue(self, approval_id: str, now: datetime | None = None) -> Outbox:
        """Expire ``approval_id`` when it is pending past its expiry, as the sweep does, and finish an
        expiry a crash left half done; returns what to send (nothing for an external task)."""
        at = now or self.ledger.now()
        approval = self.ledger.get_approval(approval_id)
        if approval.status is ApprovalStatus.PENDING:
            if approval.expires_at > at or not self.ledger.expire_approval(approval_id, at):
                return Outbox()  # not due, or decided meanwhile: the decision stands
            task = self.ledger.get_task(approval.task_id)
            self._audit(
                task,
                "approval_expiry_sweep",
                {"approval_id": approval_id, "expires_at": approval.expires_at.isoformat()},
                step=approval.step,
            )
        elif approval.status is not ApprovalStatus.EXPIRED:
            return Outbox()
        # Records the call's result once (a second pass records nothing) and resumes the task.
        return self.expire_approval(approval_id)

    def _expire_task_approvals(self, task: TaskRecord, at: datetime) -> Outbox:
        """Expire the due approvals of the task's current step; finish any expiry a crash left half done."""
        _, checkpoint = self._checkpoint(task.task_id)
        turn = checkpoint.last
        outbox = Outbox()
        for call in turn.calls if turn is not None else ():
            if call.approval_id is not None:
                outbox.extend(self.expire_if_overdue(call.approval_id, at))
        return outbox

    def _expire_external_approvals(self, task: TaskRecord, at: datetime) -> Outbox:
        """Expire the due approvals of every call of an external task that has no result yet (each call
        is a step of its own; the oldest may wait as long as the newest). One approval that cannot be
        expired now is logged and left for the next run; the others go on."""
        _, checkpoint = self._checkpoint(task.task_id)
        answered = self._results(task.task_id)
        outbox = Outbox()
        for turn in checkpoint.turns:
            for call in turn.calls:
                if call.approval_id is None or call.request_id in answered:
                    continue
                try:
                    outbox.extend(self.expire_if_overdue(call.approval_id, at))
                except AgentcageError as error:
                    _log.warning("approval %s not expired now: %s", call.approval_id, error.message)
        return outbox

    def _resend_after_expiry(self, task: TaskRecord, at: datetime, resend_after_seconds: float) -> Outbox:
        """What the task's claims said to send (its next step, an approved request) and that has not
        taken effect for a long while: sent again (:mod:`agentcage.coordinator.undelivered`)."""
        lag = (at - self.ledger.now()).total_seconds()  # ``at`` may be ahead of the ledger's clock
        return resend_undelivered(self, task, older_than_seconds=max(0.0, resend_after_seconds - lag))
