"""What every coordinator operation shares: its collaborators, the checkpoint, result slots, advancing.

Advancing a task past step ``n`` happens exactly once, however many results race to complete the
step: the one that wins the ledger's ``ADVANCE`` claim of step ``n`` (a put-if-absent write) emits
``AgentStep(n + 1)``. The claim holds that step, and its outbox entry (written in the claim's own
transaction) is the message to send, so a crash between the claim and the send is recovered:

* a queue message (a tool result, an agent step, a child's end) is redelivered when its function died
  or its send failed; the redelivery finds the claim under its own claimant and emits the kept step
  again, within seconds;
* an HTTP decision or the expiry timer has no redelivery (a person may never repeat the POST), so the
  timer's sweep (:mod:`agentcage.coordinator.undelivered`) re-sends a claim's outbox entry whose step
  has not run after a while, and marks delivered the entries whose step did run. The hot path never
  marks an entry delivered: that would cost a request per step, and the checkpoint of the next step
  already says it arrived.

An advance an older deployment made (an ``advance-<n>`` result row) is read as that claim.

State that steers the task is kept in claims too, never read back from the audit log: that the task
was told a tool's circuit is open (``CIRCUIT_REFUSAL``), and that people were told about an approval
(``NOTIFIED``). The audit events stay, for people.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from agentcage.approvals import ApprovalNotice, DeliveryOutcome
from agentcage.approvals.notice import approval_link, describe_requester
from agentcage.budget.guard import BudgetGuard, MetricsSink
from agentcage.budget.limits import AMOUNT_FIELDS, Usage
from agentcage.constants import AGENT_STEPS_QUEUE
from agentcage.coordinator.messages import Outbox, step_message_id
from agentcage.coordinator.settings import CoordinatorSettings
from agentcage.coordinator.state import (
    PlannedCall,
    ResultRows,
    StepCheckpoint,
    Turn,
    error_content,
    result_slot,
)
from agentcage.coordinator.targets import NoTargetResolver, TargetResolver
from agentcage.envelopes import AgentStep, RequesterClaim, ToolRequest, dump_envelope, parse_envelope
from agentcage.errors import (
    AgentcageError,
    ApprovalInvalidError,
    BudgetExceededError,
    CircuitOpenError,
    ConflictError,
    InvalidTransitionError,
)
from agentcage.gate import GovernanceGate
from agentcage.ledger.base import Ledger
from agentcage.ledger.claims import Claim, ClaimScope, OutboxMessage
from agentcage.ledger.models import ApprovalRecord, TaskRecord, TaskState
from agentcage.models.base import ModelProvider
from agentcage.policy.context import BudgetState as PolicyBudget
from agentcage.trace import TraceContext, continue_or_start, trace_id_of

__all__ = ["SUPERSEDING_APPROVER", "CoordinatorCore", "Notifier"]

_log = logging.getLogger("agentcage.coordinator")

SUPERSEDING_APPROVER = "agentcage-coordinator"
"""The ``approver`` of an approval the coordinator denied because no checkpointed call waits for it."""


class Stop(Exception):  # noqa: N818 - control flow inside one operation, never escapes it
    """The task halted while its calls were being decided."""


class Notifier(Protocol):
    """Tells people about approvals (``agentcage.approvals.WebhookNotifier`` is one)."""

    def notify(self, notice: ApprovalNotice) -> DeliveryOutcome:
        """Deliver one approval notice; never raises."""
        ...


class CoordinatorCore:
    """The collaborators and the shared steps of the agent loop (see :class:`Coordinator`)."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        gate: GovernanceGate,
        model: ModelProvider,
        settings: CoordinatorSettings | None = None,
        notifier: Notifier | None = None,
        targets: TargetResolver | None = None,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.ledger = ledger
        self.gate = gate
        self.model = model
        self.settings = settings or CoordinatorSettings()
        self.notifier = notifier
        self.targets: TargetResolver = targets or NoTargetResolver()
        self.guard = BudgetGuard(ledger, self.settings.budget, metrics=metrics)
        # Imported here: the planner module needs this one's ``Stop``.
        from agentcage.coordinator.planning import CallPlanner

        self.planner = CallPlanner(self)
        """Decides every proposed call, whichever front door it came through."""

    # --- reading state ----------------------------------------------------------------------------
    def _checkpoint(self, task_id: str) -> tuple[int, StepCheckpoint]:
        saved = self.ledger.last_checkpoint(task_id)
        if saved is None:
            return 0, StepCheckpoint()
        return saved.step, StepCheckpoint.of(saved.data)

    def _rows(self, task_id: str) -> ResultRows:
        """The task's result rows (one read): results by request id, and legacy claim rows."""
        return ResultRows.of(self.ledger.tool_results(task_id))

    def _results(self, task_id: str) -> dict[str, dict[str, Any]]:
        return self._rows(task_id).results

    @staticmethod
    def _trace_of(task: TaskRecord) -> TraceContext:
        return continue_or_start(task.traceparent)

    @staticmethod
    def _trace_id(task: TaskRecord) -> str | None:
        return trace_id_of(task.traceparent)

    def _audit(
        self, task: TaskRecord, kind: str, data: Mapping[str, Any], *, step: int | None = None
    ) -> None:
        self.ledger.append_audit(
            task.task_id, kind, data, trace_id=self._trace_id(task), step=step, agent_id=task.agent_id
        )

    def _policy_budget(self, task_id: str) -> PolicyBudget:
        state = self.ledger.budget_state(task_id)
        fractions = [
            getattr(state.remaining, name) / getattr(state.limits, name)
            for name in AMOUNT_FIELDS
            if getattr(state.limits, name) > 0
        ]
        fraction = min(fractions, default=0.0)
        return PolicyBudget(exhausted=fraction <= 0, remaining_fraction=fraction)

    # --- changing state ---------------------------------------------------------------------------
    def _move(self, task_id: str, to: TaskState, **kwargs: Any) -> bool:
        """Transition if the state machine allows it; False when the task is already elsewhere."""
        try:
            self.ledger.transition(task_id, to, **kwargs)
        except InvalidTransitionError as error:
            _log.info("task %s not moved to %s: %s", task_id, to.value, error.message)
            return False
        return True

    def _record(self, task_id: str, request_id: str, slot: Mapping[str, Any]) -> bool:
        return self.ledger.record_tool_result(task_id, request_id, slot)

    def _count_local_call(self, task: TaskRecord, call: PlannedCall) -> None:
        """A call answered here (refused, or delegated) still counts as one tool call: probing is not free."""
        reservation = self.ledger.reserve(
            task.task_id,
            Usage(tool_calls=1),
            kind="tool",
            tool=call.tool if call.tool.isidentifier() else "invalid",
            args_digest=call.args_digest,
            ttl_seconds=self.settings.budget.reservation_ttl_seconds,
            agent_id=task.agent_id,
        )
        self.ledger.settle(reservation.reservation_id, Usage(tool_calls=1))

    def _told_circuit_open_before(self, task_id: str, tool: str, *, claimant: str) -> bool:
        """Claim telling the task that ``tool``'s circuit is open: False when this is the first time
        (or ``claimant`` told it before: a redelivered or concurrent copy of the same telling), True
        when another claimant already told it, so meeting the open circuit again halts the task.

        A task told before this was a claim (only an audit event says so) is told once more."""
        outcome = self.ledger.claim(task_id, ClaimScope.CIRCUIT_REFUSAL, tool, claimant=claimant)
        return not outcome.won and outcome.claim.claimant != claimant

    def _halt_for(self, task_id: str, error: AgentcageError) -> None:
        if isinstance(error, BudgetExceededError) or error.code in ("loop_detected", "circuit_open"):
            self.guard.trip(task_id, error)  # type: ignore[arg-type]
        else:
            self._move(task_id, TaskState.HALTED, reason=f"{error.code}: {error.message}")

    # --- approvals of a turn ----------------------------------------------------------------------
    def _waiting_approvals(
        self, task_id: str, turn: Turn | None, pending: list[ApprovalRecord] | None = None
    ) -> list[ApprovalRecord]:
        """The approvals of ``turn``'s calls still waiting for a decision (``pending``: already read).

        Only the checkpointed turn counts: an approval a crashed or losing copy of the step created
        (its calls were never checkpointed) can never be decided, and must not keep the task waiting.
        """
        wanted = {c.approval_id for c in turn.calls if c.outcome == "approval"} if turn else set()
        wanted.discard(None)
        if not wanted:
            return []
        if pending is None:
            pending = self.ledger.pending_approvals(task_id)
        return [a for a in pending if a.approval_id in wanted]

    def _supersede_approvals(self, task: TaskRecord, approval_ids: Iterable[str], reason: str) -> None:
        """Deny approvals no checkpointed call waits for, so nobody is asked to decide them."""
        for approval_id in approval_ids:
            try:
                self.ledger.decide_approval(
                    approval_id, False, approver=SUPERSEDING_APPROVER, comment=f"superseded: {reason}"
                )
            except (ConflictError, ApprovalInvalidError):  # decided or expired meanwhile: nothing to do
                continue
            self._audit(task, "approval_superseded", {"approval_id": approval_id, "reason": reason})

    def _supersede_strays(
        self, task: TaskRecord, step: int, turn: Turn, pending: list[ApprovalRecord]
    ) -> list[ApprovalRecord]:
        """Deny the ``pending`` approvals of steps up to ``step`` its checkpointed turn does not name.

        Once step ``step`` is checkpointed, no copy of it (or of an earlier step) can checkpoint
        again, so such an approval was made by a copy that crashed or lost the checkpoint race. A
        later step's approvals are left alone: that step may be running right now. Returns the
        approvals still pending.
        """
        live = {c.approval_id for c in turn.calls if c.approval_id}
        strays = [a.approval_id for a in pending if a.step <= step and a.approval_id not in live]
        if strays:
            self._supersede_approvals(task, strays, f"step {step} was checkpointed without this call")
        return [a for a in pending if a.approval_id not in strays]

    def _notified(self, task_id: str) -> set[str]:
        """The approvals people were already told about (their ``NOTIFIED`` claims)."""
        return {claim.key for claim in self.ledger.claims(task_id, ClaimScope.NOTIFIED)}

    def _mark_notified(self, task: TaskRecord, approval_id: str, *, claimant: str) -> None:
        """Record that people were told about ``approval_id`` (after the notice: at least once)."""
        self.ledger.claim(task.task_id, ClaimScope.NOTIFIED, approval_id, claimant=claimant)

    def _notify(self, task: TaskRecord, approval_id: str) -> None:
        """Tell people about the approval; the outcome (delivered or not) goes to the audit log."""
        if self.notifier is None:
            self._audit(
                task,
                "approval_notification",
                {"approval_id": approval_id, "delivered": False, "error": "no notifier configured"},
            )
            return
        approval = self.ledger.get_approval(approval_id)
        notice = ApprovalNotice(
            approval_id=approval_id,
            task_id=task.task_id,
            agent_id=approval.agent_id,
            tool=approval.tool,
            args=dict(approval.args),
            args_digest=approval.args_digest,
            expires_at=approval.expires_at,
            # the console page a person decides on (through sign-in where the platform has it)
            approval_url=approval_link(approval_id, public_base_url=self.settings.public_base_url),
            reasons=tuple(approval.reasons),
            trace_id=self._trace_id(task),
            requester=describe_requester(task.requester),  # on whose behalf: from the ledger's record
        )
        outcome = self.notifier.notify(notice)
        self._audit(task, "approval_notification", {"approval_id": approval_id, **outcome.as_dict()})

    def _dispatch(
        self,
        task: TaskRecord,
        step: int,
        planned: PlannedCall,
        traceparent: str,
        approval_id: str | None = None,
    ) -> PlannedCall:
        """Check the call's circuit, reserve it, and build its ``ToolRequest``.

        The circuit is only peeked at here: the executor, which makes the call, claims the half-open
        probe. Claiming it here too would leave the executor finding the slot taken, so the probe
        would never run and the circuit would never close.
        """
        admission = self.ledger.circuit_peek(planned.tool)
        if not admission.allowed:
            retry_at = admission.retry_at.isoformat() if admission.retry_at else None
            message = f"the circuit of {planned.tool} is open; retry after {retry_at}"
            # The model hears about an open circuit once, so it can work without the tool; proposing
            # the same tool again while it is still open halts the task (no call, no tool budget).
            if self._told_circuit_open_before(task.task_id, planned.tool, claimant=f"step-{step}"):
                self.guard.trip(
                    task.task_id,
                    CircuitOpenError(
                        f"{planned.tool} is unavailable and the agent kept asking for it: {message}",
                        details={"tool": planned.tool, "retry_at": retry_at},
                    ),
                )
                raise Stop
            content = error_content("circuit_open", message)
            self._audit(task, "circuit_open", {"tool": planned.tool, "retry_at": retry_at}, step=step)
            return planned.model_copy(
                update={
                    "outcome": "local",
                    "local_result": result_slot(
                        "circuit_open", content, tool=planned.tool, source="coordinator"
                    ),
                }
            )
        tool = self.gate.catalog[planned.tool]
        try:
            reservation = self.ledger.reserve(
                task.task_id,
                Usage(tool_calls=1, cost_micro_usd=self.settings.budget.tool_call_cost_micro_usd),
                kind="tool",
                tool=tool.name,
                args_digest=planned.args_digest,
                ttl_seconds=self.settings.budget.reservation_ttl_seconds,
                agent_id=task.agent_id,
                request_id=planned.request_id,  # the executor refuses it under any other message id
            )
        except BudgetExceededError as error:
            self.guard.trip(task.task_id, error)
            raise Stop from error
        request = ToolRequest(
            message_id=planned.request_id,
            task_id=task.task_id,
            step=step,
            agent_id=task.agent_id,
            tool=tool.name,
            args=planned.args,
            args_digest=planned.args_digest or "",
            reservation_id=reservation.reservation_id,
            approval_id=approval_id,
            traceparent=traceparent,
            issued_at=reservation.created_at,
            expires_at=reservation.expires_at,
            requester=RequesterClaim.of(task.requester),
        )
        dump_envelope(request)  # too large for the queues: raises before anything is sent
        return planned.model_copy(
            update={"outcome": "dispatched", "request": request.model_dump(mode="json")}
        )

    # --- advancing --------------------------------------------------------------------------------
    def agent_step(self, task: TaskRecord, step: int) -> AgentStep:
        """The ``AgentStep`` message for ``step`` of ``task``, a child span of the task's trace."""
        return AgentStep(
            task_id=task.task_id,
            step=step,
            traceparent=self._trace_of(task).child().traceparent,
            requester=RequesterClaim.of(task.requester),
        )

    def _maybe_advance(
        self, task_id: str, step: int, turn: Turn | None, claimant: str, *, task: TaskRecord | None = None
    ) -> Outbox:
        """Emit ``AgentStep(step + 1)`` when every call of ``turn`` has its result (exactly once).

        ``task``: the task as this operation read it, when nothing since can have moved it (it is read
        otherwise). A state that moved concurrently is harmless: the claim makes advancing once-only,
        and a step of a task that ended is ignored."""
        if task is None:
            task = self.ledger.get_task(task_id)
        if turn is None or turn.final or task.state is not TaskState.RUNNING:
            return Outbox()
        if task.driver == "external":  # its client proposes the next call; no model step follows
            return Outbox()
        rows = self._rows(task_id)
        if any(call.request_id not in rows.results for call in turn.calls):
            return Outbox()
        legacy = rows.legacy_advance(step)
        following: AgentStep | None
        if legacy is not None:  # advanced by an older deployment: its row is the claim
            same = legacy.result.get("claimant") == claimant
            following = self.agent_step(task, step + 1) if same else None
        else:
            following = self._claim_advance(task, step, claimant)
        if following is None:
            return Outbox()  # another message advanced the task
        self._audit(task, "step_advanced", {"to_step": step + 1, "by": claimant}, step=step)
        return Outbox().add_step(task, following)

    def _claim_advance(self, task: TaskRecord, step: int, claimant: str) -> AgentStep | None:
        """Claim advancing past ``step`` with the next step as the claim's outbox entry; the step to
        emit when this claimant holds the claim (now or before), ``None`` when another does."""
        following = self.agent_step(task, step + 1)
        body = dump_envelope(following)
        outcome = self.ledger.claim(
            task.task_id,
            ClaimScope.ADVANCE,
            str(step),
            claimant=claimant,
            payload={"step": body},
            outbox=[
                OutboxMessage(
                    destination=AGENT_STEPS_QUEUE,
                    message_id=step_message_id(task, step + 1),
                    body=body,
                )
            ],
        )
        if outcome.won:
            return following
        if outcome.claim.claimant != claimant:
            return None
        return _claimed_step(outcome.claim) or following  # the same message as the first time


def _claimed_step(claim: Claim) -> AgentStep | None:
    """The ``AgentStep`` an ``ADVANCE`` claim holds (``None`` when it holds none readable)."""
    body = claim.payload.get("step")
    if not isinstance(body, str):
        return None
    try:
        return parse_envelope(AgentStep, body)
    except AgentcageError:
        return None
