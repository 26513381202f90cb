"""The small atomic hooks every ledger backend implements, and what they share (clock, breaker settings).

Hooks that change a record take an ``apply`` function: the backend reads the record, calls ``apply``
(which raises if the change is not allowed) and writes the result only if the record did not
change in between (a lock, a transaction, or a conditional write on a version), retrying otherwise.
Every hook raises the matching NotFoundError for a record that does not exist.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from agentcage.budget.breaker import BreakerSettings, CircuitRecord
from agentcage.ledger.models import (
    ApprovalRecord,
    AuditEvent,
    CallRecords,
    Checkpoint,
    Reservation,
    TaskRecord,
    TaskState,
    ToolResultRecord,
)

__all__ = ["Clock", "LedgerHooks"]

Clock = Callable[[], datetime]
T = TypeVar("T")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LedgerHooks(ABC):
    """What a backend provides: one atomic operation per hook."""

    def __init__(self, *, breaker: BreakerSettings | None = None, clock: Clock | None = None) -> None:
        self.breaker = breaker or BreakerSettings()
        self._clock = clock or _utc_now

    def now(self) -> datetime:
        """The ledger's current time (UTC; injectable for tests and replays)."""
        return self._clock()

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to close
        """Release what the backend holds (connections)."""

    # --- hooks (one atomic operation each) --------------------------------------------------------
    @abstractmethod
    def _insert_task(self, task: TaskRecord) -> None: ...
    @abstractmethod
    def _load_task(self, task_id: str) -> TaskRecord: ...
    @abstractmethod
    def _update_task_state(self, task_id: str, apply: Callable[[TaskRecord], TaskRecord]) -> TaskRecord: ...
    @abstractmethod
    def _list_tasks(self, limit: int, state: TaskState | None) -> list[TaskRecord]: ...
    @abstractmethod
    def _insert_checkpoint(self, checkpoint: Checkpoint) -> bool: ...
    @abstractmethod
    def _last_checkpoint(self, task_id: str) -> Checkpoint | None: ...
    @abstractmethod
    def _insert_reservation(self, reservation: Reservation, now: datetime) -> None: ...
    @abstractmethod
    def _load_reservation(self, task_id: str, reservation_id: str) -> Reservation: ...
    @abstractmethod
    def _update_reservation(
        self,
        task_id: str,
        reservation_id: str,
        apply: Callable[[Reservation], Reservation],
        *,
        seen: Reservation | None = None,
    ) -> Reservation: ...
    @abstractmethod
    def _finish_reservation(
        self, task_id: str, reservation_id: str, apply: Callable[[Reservation], Reservation], now: datetime
    ) -> Reservation: ...
    @abstractmethod
    def _stale_reservations(self, now: datetime, task_id: str | None) -> list[tuple[str, str]]: ...
    @abstractmethod
    def _insert_approval(self, approval: ApprovalRecord) -> None: ...
    @abstractmethod
    def _load_approval(self, task_id: str, approval_id: str) -> ApprovalRecord: ...
    @abstractmethod
    def _update_approval(
        self, task_id: str, approval_id: str, apply: Callable[[ApprovalRecord], ApprovalRecord]
    ) -> ApprovalRecord: ...
    @abstractmethod
    def _list_approvals(self, task_id: str) -> list[ApprovalRecord]: ...
    @abstractmethod
    def _insert_tool_result(self, record: ToolResultRecord) -> bool: ...
    @abstractmethod
    def _list_tool_results(self, task_id: str) -> list[ToolResultRecord]: ...
    @abstractmethod
    def _append_audit(
        self, task_id: str, build: Callable[[int, datetime], AuditEvent], now: datetime
    ) -> AuditEvent: ...
    @abstractmethod
    def _list_audit(self, task_id: str) -> list[AuditEvent]: ...
    @abstractmethod
    def _update_circuit(
        self, tool: str, apply: Callable[[CircuitRecord], tuple[T, CircuitRecord | None]]
    ) -> T: ...
    @abstractmethod
    def _load_call_records(
        self, task_id: str, reservation: tuple[str, str], approval: tuple[str, str] | None, tool: str | None
    ) -> CallRecords:
        """Read the task, the reservation ``(its task, its id)``, the approval and the circuit at once."""

    @abstractmethod
    def _increment_call(self, task_id: str, tool: str, args_digest: str) -> int: ...
