"""The ledger's rules as pure functions: task transitions, id layout, reservation and approval checks.

Every backend applies these inside its atomic operation, so the rules are written once.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from agentcage.budget.limits import AMOUNT_FIELDS, LimitName, Usage
from agentcage.errors import (
    ApprovalAlreadyDecidedError,
    ApprovalExpiredError,
    ApprovalInvalidError,
    ApprovalMismatchError,
    ApprovalNotFoundError,
    BudgetExceededError,
    ConflictError,
    InvalidInputError,
    InvalidTransitionError,
    ReplayError,
    ReservationNotFoundError,
    ReservationStateError,
)
from agentcage.ledger.models import (
    ApprovalRecord,
    ApprovalStatus,
    Reservation,
    ReservationStatus,
    TaskRecord,
    TaskState,
)

__all__ = [
    "TRANSITIONS",
    "charge_on_expiry",
    "check_approval_decidable",
    "check_approval_usable",
    "check_consumable",
    "check_reservable",
    "check_settleable",
    "check_transition",
    "apply_deltas",
    "budget_exceeded",
    "new_child_id",
    "reservation_deltas",
    "task_of",
    "validate_task_id",
]

TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.PENDING: frozenset({TaskState.RUNNING, TaskState.FAILED, TaskState.HALTED}),
    TaskState.RUNNING: frozenset(
        {TaskState.AWAITING_APPROVAL, TaskState.COMPLETED, TaskState.HALTED, TaskState.FAILED}
    ),
    TaskState.AWAITING_APPROVAL: frozenset({TaskState.RUNNING, TaskState.HALTED, TaskState.FAILED}),
    TaskState.COMPLETED: frozenset(),
    TaskState.HALTED: frozenset(),
    TaskState.FAILED: frozenset(),
}

# A task id must leave room for the suffix of the ids derived from it (see new_child_id) within the
# 64 characters an envelope Identifier allows; "." separates the two parts, so a task id has none.
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+=,@-]{1,39}$")
_CHILD_ID = re.compile(r"^(?P<task>[A-Za-z0-9][A-Za-z0-9_+=,@-]{1,39})\.[ar][0-9a-f]{20}$")


def validate_task_id(task_id: str) -> str:
    """Return ``task_id`` if it is 2-40 characters of ``[A-Za-z0-9_+=,@-]``, else InvalidInputError."""
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
        raise InvalidInputError(
            "a task id is 2-40 characters of letters, digits and _+=,@- (no dots)",
            details={"task_id": str(task_id)[:80]},
        )
    return task_id


def new_child_id(task_id: str, kind: str) -> str:
    """A reservation (``r``) or approval (``a``) id that carries its task id: ``<task>.<kind><20 hex>``.

    Carrying the task id lets a lookup by id reach the task's partition (DynamoDB ``PK=TASK#id``)
    in one read, with no secondary index.
    """
    return f"{task_id}.{kind}{uuid.uuid4().hex[:20]}"


def task_of(child_id: str, kind: str) -> str:
    """The task id inside a reservation or approval id; a malformed id is simply not found."""
    match = _CHILD_ID.match(child_id) if isinstance(child_id, str) else None
    if match is None or child_id[len(match["task"]) + 1] != kind:
        if kind == "r":
            raise ReservationNotFoundError(f"no reservation {str(child_id)[:80]!r}")
        raise ApprovalNotFoundError(f"no approval {str(child_id)[:80]!r}")
    return match["task"]


def check_transition(task: TaskRecord, to: TaskState, expected: TaskState | None) -> None:
    """Raise InvalidTransitionError unless ``task`` may move to ``to`` (from ``expected``, if given)."""
    if expected is not None and task.state is not expected:
        raise InvalidTransitionError(
            f"task {task.task_id} is {task.state.value}, not {expected.value}",
            details={"task_id": task.task_id, "state": task.state.value, "expected": expected.value},
        )
    if to not in TRANSITIONS[task.state]:
        raise InvalidTransitionError(
            f"task {task.task_id} cannot go from {task.state.value} to {to.value}",
            details={"task_id": task.task_id, "state": task.state.value, "to": to.value},
        )


def check_reservable(task: TaskRecord) -> None:
    """A final task reserves nothing."""
    if task.state.is_final:
        raise ConflictError(
            f"task {task.task_id} is {task.state.value}; it cannot reserve budget",
            details={"task_id": task.task_id, "state": task.state.value},
        )


def check_consumable(reservation: Reservation, now: datetime) -> None:
    """Only an active, unexpired tool reservation can be consumed; a consumed one is a replay."""
    if reservation.kind != "tool":
        raise ReservationStateError(f"reservation {reservation.reservation_id} is not a tool call")
    if reservation.consumed_at is not None:
        raise ReplayError(
            f"reservation {reservation.reservation_id} was already consumed; this message is a replay",
            details={"reservation_id": reservation.reservation_id},
        )
    if reservation.status is not ReservationStatus.ACTIVE:
        raise ReservationStateError(
            f"reservation {reservation.reservation_id} is {reservation.status.value}",
            details={"reservation_id": reservation.reservation_id, "status": reservation.status.value},
        )
    if now >= reservation.expires_at:
        raise ReservationStateError(
            f"reservation {reservation.reservation_id} expired at {reservation.expires_at.isoformat()}",
            details={"reservation_id": reservation.reservation_id, "status": "expired"},
        )


def charge_on_expiry(reservation: Reservation) -> Usage | None:
    """What an abandoned reservation is charged when the sweep expires it (None: released).

    A consumed tool call may have executed (the executor consumes before it calls). A model
    reservation still held at its expiry was made by a process that died before settling: the guard
    settles, charges or releases every call it lives to see, and the request may have reached the
    provider and been billed. Both are charged their upper bound. A tool call nobody consumed never
    ran, and is released.
    """
    if reservation.status is ReservationStatus.CONSUMED or reservation.kind == "model":
        return reservation.amounts
    return None


def check_settleable(reservation: Reservation) -> None:
    """Settling or releasing twice is refused; an expired reservation may still be settled late."""
    if reservation.status in (ReservationStatus.SETTLED, ReservationStatus.RELEASED):
        raise ReservationStateError(
            f"reservation {reservation.reservation_id} is already {reservation.status.value}",
            details={"reservation_id": reservation.reservation_id, "status": reservation.status.value},
        )


def check_approval_decidable(approval: ApprovalRecord, now: datetime) -> None:
    """Only a pending, unexpired approval can be decided."""
    if approval.status is ApprovalStatus.EXPIRED or (
        approval.status is ApprovalStatus.PENDING and now >= approval.expires_at
    ):
        raise ApprovalExpiredError(
            f"approval {approval.approval_id} expired at {approval.expires_at.isoformat()}",
            details={"approval_id": approval.approval_id},
        )
    if approval.status is not ApprovalStatus.PENDING:
        raise ApprovalAlreadyDecidedError(
            f"approval {approval.approval_id} was already {approval.status.value}",
            details={"approval_id": approval.approval_id, "status": approval.status.value},
        )


def check_approval_usable(approval: ApprovalRecord, args_digest: str, now: datetime) -> None:
    """An approval authorises one call: approved, same arguments, not expired, not used before."""
    details = {"approval_id": approval.approval_id, "status": approval.status.value}
    if approval.used_at is not None:
        raise ReplayError(f"approval {approval.approval_id} was already used", details=details)
    if approval.status is ApprovalStatus.EXPIRED or now >= approval.expires_at:
        raise ApprovalExpiredError(
            f"approval {approval.approval_id} expired at {approval.expires_at.isoformat()}", details=details
        )
    if approval.status is not ApprovalStatus.APPROVED:
        raise ApprovalInvalidError(
            f"approval {approval.approval_id} is {approval.status.value}", details=details
        )
    if approval.args_digest != args_digest:
        raise ApprovalMismatchError(
            f"approval {approval.approval_id} was granted for other arguments", details=details
        )


def reservation_deltas(before: Reservation, after: Reservation) -> tuple[dict[str, int], dict[str, int]]:
    """How a reservation's change moves the task's counters: ``(used_delta, reserved_delta)``, signed.

    Leaving ``active``/``consumed`` gives the reserved amounts back; ``used`` moves by the change in
    ``actual`` (a late settlement of an expired, charged reservation replaces the charge by the truth).
    """
    used: dict[str, int] = {}
    reserved: dict[str, int] = {}
    releases = before.status.holds_budget and not after.status.holds_budget
    for name in AMOUNT_FIELDS:
        was = getattr(before.actual, name) if before.actual is not None else 0
        now = getattr(after.actual, name) if after.actual is not None else 0
        used[name] = now - was
        reserved[name] = -getattr(before.amounts, name) if releases else 0
    return used, reserved


def apply_deltas(
    task: TaskRecord, used: dict[str, int], reserved: dict[str, int], now: datetime
) -> TaskRecord:
    """The task with its ``used``/``reserved`` counters moved by signed deltas."""
    new_used = Usage(**{name: getattr(task.used, name) + used.get(name, 0) for name in AMOUNT_FIELDS})
    new_reserved = Usage(
        **{name: getattr(task.reserved, name) + reserved.get(name, 0) for name in AMOUNT_FIELDS}
    )
    return task.model_copy(update={"used": new_used, "reserved": new_reserved, "updated_at": now})


def budget_exceeded(task: TaskRecord, amounts: Usage, limit: LimitName) -> BudgetExceededError:
    """The error for a reservation that would pass ``limit``, with the numbers a person needs."""
    if limit == "deadline":
        return BudgetExceededError(
            f"task {task.task_id} passed its deadline {task.limits.deadline.isoformat()}",
            details={"limit": "deadline", "deadline": task.limits.deadline.isoformat()},
        )
    used, reserved, requested = (
        getattr(task.used, limit),
        getattr(task.reserved, limit),
        getattr(amounts, limit),
    )
    allowed = getattr(task.limits, limit)
    return BudgetExceededError(
        f"reserving {requested} {limit} would pass task {task.task_id}'s limit of {allowed} "
        f"(used {used}, reserved {reserved})",
        details={
            "limit": limit,
            "requested": requested,
            "used": used,
            "reserved": reserved,
            "allowed": allowed,
        },
    )
