"""What the console's pages show, read from the coordinator's ledger through its public methods.

Who may see what is never decided here: every task (and so every approval of it) is read through the
coordinator's need-to-know check (:class:`TaskAccess`: the requester, the approvers of its pending
approval, auditors), and a task it refuses is left out of a list or answered 404 on its own page, so
a task's existence is not revealed. Approving is not decided here either: the console hands a
decision to the same route ``POST /api/approvals/{id}`` runs (:mod:`agentcage.console.app`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from agentcage.approvals import Principal
from agentcage.budget.breaker import CircuitState
from agentcage.console.links import TraceLinks, trace_links
from agentcage.console.waterfall import Waterfall, build_waterfall
from agentcage.coordinator.state import StepCheckpoint
from agentcage.errors import AgentcageError, NotFoundError
from agentcage.ledger.models import (
    ApprovalRecord,
    ApprovalStatus,
    AuditEvent,
    BudgetState,
    TaskRecord,
    TaskState,
)

if TYPE_CHECKING:
    from agentcage.coordinator import Coordinator

__all__ = [
    "PENDING_SCAN_LIMIT",
    "ApprovalCard",
    "CircuitRow",
    "ConsoleViews",
    "PendingApprovals",
    "TaskAccess",
    "TaskDetail",
    "requester_label",
]

PENDING_SCAN_LIMIT = 500
"""Tasks awaiting approval read for the landing page (the newest first).

The ledger lists approvals per task only (no pending-approval listing across tasks), so the landing
page reads the newest tasks waiting for an approval, and says so when there were more than this; an
older one is still reached from its notice's link or the task list."""


class TaskAccess(Protocol):
    """The coordinator's need-to-know check (``coordinator.access``)."""

    def readable_task(self, task_id: str, principal: Principal) -> TaskRecord:
        """The task, or NotFoundError (404) when ``principal`` may not read it."""
        ...

    def may_read(
        self, task: TaskRecord, principal: Principal, approvals: Sequence[ApprovalRecord] | None = None
    ) -> bool:
        """Whether ``principal`` may read ``task`` (given its approvals when they were read already)."""
        ...

    def tasks_for(self, principal: Principal, *, limit: int, after: str | None) -> list[TaskRecord]:
        """The tasks ``principal`` may list, newest first, after the cursor ``after``."""
        ...

    def check_may_decide(self, task: TaskRecord, principal: Principal) -> None:
        """Refuse (a GovernanceError saying why) a reader who may not decide the task's approvals."""
        ...

    @staticmethod
    def cursor(task: TaskRecord) -> str:
        """The cursor that continues a listing after ``task``."""
        ...


@dataclass(frozen=True, slots=True)
class ApprovalCard:
    """One approval with what a person needs to decide it."""

    approval: ApprovalRecord
    task: TaskRecord
    intent: str | None
    """What the model said when it proposed the call (its thought for that step)."""
    budget: BudgetState
    refusal: str | None = None
    """Why the person looking may not decide it (``None``: they may try; the policy has the last word)."""

    @property
    def arguments_json(self) -> str:
        """The exact arguments as pretty JSON (keys sorted, nothing cut)."""
        return json.dumps(self.approval.args, indent=2, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class PendingApprovals:
    """The landing page's approvals, and how far the scan for them went."""

    cards: list[ApprovalCard]
    scanned: int
    """Tasks waiting for an approval that were read (the newest first)."""
    cut: bool
    """More tasks were waiting than were read: older pending approvals are not among ``cards``."""


@dataclass(frozen=True, slots=True)
class TaskDetail:
    """A task page: the coordinator's view of the task, its waterfall, audit log and trace links."""

    task: TaskRecord
    view: dict[str, Any]
    events: tuple[AuditEvent, ...]
    waterfall: Waterfall | None
    links: TraceLinks | None
    approvals: tuple[ApprovalRecord, ...]


@dataclass(frozen=True, slots=True)
class CircuitRow:
    """A tool's circuit as the ledger keeps it."""

    tool: str
    state: str
    consecutive_failures: int
    opened_at: datetime | None
    retry_at: datetime | None


def requester_label(task: TaskRecord) -> str:
    """Who the task runs for, as a person reads it."""
    requester = task.requester
    if requester is None:
        return "(not recorded)"
    roles = f" · {', '.join(requester.roles)}" if requester.roles else ""
    return f"{requester.name or requester.id} · {requester.kind}{roles}"


class ConsoleViews:
    """Reads for the pages; ``access`` is the coordinator's need-to-know check."""

    def __init__(self, coordinator: Coordinator, access: TaskAccess) -> None:
        self.coordinator = coordinator
        self.access = access
        self.ledger = coordinator.ledger

    # --- approvals --------------------------------------------------------------------------------
    def pending_approvals(self, principal: Principal, *, limit: int = PENDING_SCAN_LIMIT) -> PendingApprovals:
        """The pending approvals of the ``limit`` newest tasks waiting for one that ``principal`` may
        read, soonest expiry first, and whether older tasks were left unread.

        One ledger read per task (its approvals, which the need-to-know rule reads anyway), and its
        audit log only for a task with an approval to show.
        """
        listed = self.ledger.list_tasks(limit=limit + 1, state=TaskState.AWAITING_APPROVAL)
        cards: list[ApprovalCard] = []
        for task in listed[:limit]:
            approvals = self.ledger.task_approvals(task.task_id)
            pending = [a for a in approvals if a.status is ApprovalStatus.PENDING]
            if not pending or not self.access.may_read(task, principal, approvals):
                continue
            events = self.ledger.audit(task.task_id)
            cards.extend(self._card(approval, task, events, principal) for approval in pending)
        cards.sort(key=lambda card: card.approval.expires_at)
        return PendingApprovals(cards=cards, scanned=min(len(listed), limit), cut=len(listed) > limit)

    def approval(self, approval_id: str, principal: Principal) -> ApprovalCard:
        """One approval, whatever its status (NotFoundError when its task is not readable)."""
        approval = self.ledger.get_approval(approval_id)
        task = self.access.readable_task(approval.task_id, principal)
        return self._card(approval, task, self.ledger.audit(task.task_id), principal)

    def _card(
        self, approval: ApprovalRecord, task: TaskRecord, events: list[AuditEvent], principal: Principal
    ) -> ApprovalCard:
        try:
            self.access.check_may_decide(task, principal)
            refusal = None
        except AgentcageError as error:
            refusal = error.message
        return ApprovalCard(
            approval=approval,
            task=task,
            intent=_intent(events, approval.step),
            budget=self.ledger.budget_state(task.task_id),
            refusal=refusal,
        )

    # --- tasks ------------------------------------------------------------------------------------
    def tasks(self, principal: Principal, *, limit: int, after: str | None) -> list[TaskRecord]:
        """The tasks ``principal`` may read, newest first."""
        return self.access.tasks_for(principal, limit=limit, after=after)

    def budget(self, task: TaskRecord) -> BudgetState:
        """What the task used, holds and has left."""
        return BudgetState.of(task)

    def task(self, task_id: str, principal: Principal) -> TaskDetail:
        """A task's page (NotFoundError, 404, when ``principal`` may not read it)."""
        task = self.access.readable_task(task_id, principal)
        view = self.coordinator.task_view(task.task_id)
        events = tuple(self.ledger.audit(task.task_id))
        waterfall = (
            build_waterfall(list(events), self._reservation_times, self._planned_reservations(task.task_id))
            if events
            else None
        )
        trace_id = str(view.get("trace_id") or "")
        return TaskDetail(
            task=task,
            view=view,
            events=events,
            waterfall=waterfall,
            links=trace_links(trace_id) if trace_id else None,
            approvals=tuple(self.ledger.task_approvals(task.task_id)),
        )

    def _planned_reservations(self, task_id: str) -> dict[str, str]:
        """Request id -> reservation id of every call the task's checkpoint sent."""
        saved = self.ledger.last_checkpoint(task_id)
        checkpoint = StepCheckpoint.of(saved.data if saved is not None else None)
        return {
            call.request_id: str(call.request["reservation_id"])
            for turn in checkpoint.turns
            for call in turn.calls
            if call.request is not None and isinstance(call.request.get("reservation_id"), str)
        }

    def _reservation_times(self, reservation_id: str) -> tuple[datetime | None, datetime | None]:
        try:
            reservation = self.ledger.get_reservation(reservation_id)
        except NotFoundError:  # swept long ago: the hop is left out, not guessed
            return None, None
        return reservation.created_at, reservation.consumed_at

    # --- circuits ---------------------------------------------------------------------------------
    def circuits(self) -> list[CircuitRow]:
        """Every catalog tool's circuit (shared by all tasks, holding no task's data)."""
        rows: list[CircuitRow] = []
        for tool in sorted(self.coordinator.gate.catalog):
            record = self.ledger.circuit(tool)
            retry_at = (
                self.ledger.circuit_peek(tool).retry_at if record.state is not CircuitState.CLOSED else None
            )
            rows.append(
                CircuitRow(
                    tool=tool,
                    state=record.state.value,
                    consecutive_failures=record.consecutive_failures,
                    opened_at=record.opened_at,
                    retry_at=retry_at,
                )
            )
        return rows


def _intent(events: list[AuditEvent], step: int) -> str | None:
    """The text of the step's last thought: what the model said it was doing."""
    text: str | None = None
    for event in events:
        if event.kind == "thought" and event.step == step and isinstance(event.data.get("text"), str):
            text = str(event.data["text"])
    return text
