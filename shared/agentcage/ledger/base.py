"""The ledger interface: public template methods here, small atomic hooks in each backend.

A public method validates its input, builds records and applies the rules of
:mod:`agentcage.ledger.rules`; the hook it calls does the one atomic thing its store can do (a lock,
a SQLite ``BEGIN IMMEDIATE`` transaction, a DynamoDB conditional write or transaction). Hooks that
change a record take an ``apply`` function: the backend reads the record, calls ``apply`` (which
raises if the change is not allowed) and writes the result only if the record did not change in
between, retrying otherwise.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from agentcage.budget.breaker import (
    Admission,
    CircuitRecord,
    CircuitState,
    admit,
    record_outcome,
    release_probe,
)
from agentcage.budget.limits import BudgetLimits, Usage
from agentcage.errors import InvalidInputError, OverspendError, ReservationStateError
from agentcage.ledger import rules
from agentcage.ledger.approvals import ApprovalOperations
from agentcage.ledger.claims import ClaimOperations
from agentcage.ledger.models import (
    AuditEvent,
    BudgetState,
    CallRecords,
    Checkpoint,
    CircuitStatus,
    Requester,
    Reservation,
    ReservationKind,
    ReservationStatus,
    TaskDriver,
    TaskRecord,
    TaskState,
    ToolResultRecord,
)
from agentcage.ledger.validation import build

__all__ = ["Ledger"]


class Ledger(ClaimOperations, ApprovalOperations):
    """The budget ledger and state store shared by the coordinator, the executor and the local runtime."""

    # --- tasks ------------------------------------------------------------------------------------
    def create_task(
        self,
        *,
        agent_id: str,
        environment: str,
        request: str,
        limits: BudgetLimits,
        context: Mapping[str, Any] | None = None,
        traceparent: str | None = None,
        task_id: str | None = None,
        requester: Requester | None = None,
        driver: TaskDriver = "coordinator",
    ) -> TaskRecord:
        """Create a ``pending`` task for ``requester``; an id that already exists is a ConflictError."""
        now = self.now()
        task = build(
            TaskRecord,
            task_id=rules.validate_task_id(task_id) if task_id is not None else _new_task_id(),
            agent_id=agent_id,
            environment=environment,
            request=request,
            context=dict(context or {}),
            limits=limits,
            traceparent=traceparent,
            message_nonce=secrets.token_hex(16),
            requester=requester,
            driver=driver,
            created_at=now,
            updated_at=now,
        )
        self._insert_task(task)
        return task

    def get_task(self, task_id: str) -> TaskRecord:
        """The task (TaskNotFoundError if there is none)."""
        return self._load_task(rules.validate_task_id(task_id))

    def transition(
        self,
        task_id: str,
        to: TaskState | str,
        *,
        expected: TaskState | str | None = None,
        reason: str | None = None,
        final_answer: str | None = None,
        error: Mapping[str, str] | None = None,
    ) -> TaskRecord:
        """Move the task to ``to`` if the state machine allows it (and it is in ``expected``, if given)."""
        target = _state(to)
        before = _state(expected) if expected is not None else None
        now = self.now()
        previous: list[TaskState] = []

        def apply(task: TaskRecord) -> TaskRecord:
            rules.check_transition(task, target, before)
            previous.append(task.state)
            changes: dict[str, Any] = {"state": target, "updated_at": now}
            if target is TaskState.HALTED:
                changes["halt_reason"] = reason
            if target is TaskState.COMPLETED:
                changes["final_answer"] = final_answer
            if target is TaskState.FAILED:
                changes["error"] = dict(error) if error else {"code": "failed", "message": reason or ""}
            return task.model_copy(update=changes)

        task = self._update_task_state(rules.validate_task_id(task_id), apply)
        self.append_audit(
            task.task_id,
            "state",
            {"from": previous[-1].value, "to": target.value, "reason": reason},
            trace_id=task.traceparent.split("-")[1]
            if task.traceparent and task.traceparent.count("-") == 3
            else None,
            step=task.step,
            agent_id=task.agent_id,
        )
        return task

    def list_tasks(self, *, limit: int = 100, state: TaskState | str | None = None) -> list[TaskRecord]:
        """Tasks, newest first, optionally only those in ``state``."""
        if limit < 1:
            raise InvalidInputError("limit must be at least 1")
        return self._list_tasks(limit, _state(state) if state is not None else None)

    # --- checkpoints ------------------------------------------------------------------------------
    def save_checkpoint(self, task_id: str, step: int, data: Mapping[str, Any]) -> bool:
        """Save step ``step``'s checkpoint unless it has one (then False: a redelivery); advances the step."""
        checkpoint = build(
            Checkpoint,
            task_id=rules.validate_task_id(task_id),
            step=step,
            data=dict(data),
            created_at=self.now(),
        )
        return self._insert_checkpoint(checkpoint)

    def last_checkpoint(self, task_id: str) -> Checkpoint | None:
        """The checkpoint of the highest step saved, or None for a task that has none."""
        return self._last_checkpoint(rules.validate_task_id(task_id))

    # --- reservations -----------------------------------------------------------------------------
    def reserve(
        self,
        task_id: str,
        amounts: Usage,
        *,
        kind: ReservationKind,
        tool: str | None = None,
        args_digest: str | None = None,
        ttl_seconds: float = 300,
        agent_id: str | None = None,
        request_id: str | None = None,
    ) -> Reservation:
        """Check every limit and reserve ``amounts`` in ONE atomic step (BudgetExceededError names it).

        ``agent_id`` is the task's agent, recorded so the executor can check that a reservation, its
        task and its approval all name the same agent. ``request_id`` is the message id of the
        ToolRequest a dispatched call's reservation pays for: such a reservation must also name the
        agent and the argument digest, all of which the executor checks the request against. (A tool
        call the coordinator answers itself is counted on a reservation without a request id, and
        settled at once; its arguments may have no digest.)
        """
        if kind not in ("model", "tool"):
            raise InvalidInputError(f"reservation kind must be 'model' or 'tool', not {kind!r}")
        if kind == "tool" and not tool:
            raise InvalidInputError("a tool reservation names its tool")
        if request_id is not None and (kind != "tool" or not args_digest or not agent_id):
            raise InvalidInputError(
                "a dispatched call's reservation is a tool reservation naming its agent and argument digest"
            )
        if ttl_seconds <= 0:
            raise InvalidInputError("ttl_seconds must be positive")
        task_id = rules.validate_task_id(task_id)
        now = self.now()
        reservation = build(
            Reservation,
            reservation_id=rules.new_child_id(task_id, "r"),
            task_id=task_id,
            kind=kind,
            amounts=amounts,
            agent_id=agent_id,
            tool=tool,
            args_digest=args_digest,
            request_id=request_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
        self._insert_reservation(reservation, now)
        return reservation

    def call_records(
        self,
        task_id: str,
        *,
        reservation_id: str,
        approval_id: str | None = None,
        tool: str | None = None,
    ) -> CallRecords:
        """The task, the reservation, the approval (if named) and the tool's circuit (if named), read
        in ONE consistent read: what the executor checks a tool request against."""
        reservation = (rules.task_of(reservation_id, "r"), reservation_id)
        approval = None
        # a malformed approval id is not read: whoever needs it reads it alone and gets the error there
        with contextlib.suppress(InvalidInputError):
            approval = (rules.task_of(approval_id, "a"), approval_id) if approval_id else None
        return self._load_call_records(rules.validate_task_id(task_id), reservation, approval, tool)

    def get_reservation(self, reservation_id: str) -> Reservation:
        """The reservation (ReservationNotFoundError if there is none)."""
        return self._load_reservation(rules.task_of(reservation_id, "r"), reservation_id)

    def settle(self, reservation_id: str, actual: Usage) -> Reservation:
        """Record the actual use and release the rest; more than reserved is recorded, then OverspendError.

        The ledger's ``used`` always says what was really spent, so an overspend is added in full (the
        provider bills it either way) and the task's remaining budget shrinks accordingly; the audit log
        gets an ``overspend`` event before the error is raised, so it is never silently accepted.
        """
        now = self.now()
        was: list[ReservationStatus] = []

        def apply(reservation: Reservation) -> Reservation:
            rules.check_settleable(reservation)
            was.append(reservation.status)
            return reservation.model_copy(
                update={"status": ReservationStatus.SETTLED, "actual": actual, "settled_at": now}
            )

        settled = self._finish_reservation(rules.task_of(reservation_id, "r"), reservation_id, apply, now)
        over = actual.exceeds(settled.amounts)
        if was[-1] is ReservationStatus.EXPIRED:
            self.append_audit(settled.task_id, "late_settlement", _reservation_audit(settled))
        if over:
            self.append_audit(settled.task_id, "overspend", {**_reservation_audit(settled), "fields": over})
            raise OverspendError(
                f"reservation {reservation_id} settled above what it reserved in {', '.join(over)}",
                details={"reservation_id": reservation_id, "fields": over},
            )
        return settled

    def release(self, reservation_id: str) -> Reservation:
        """Give back an active reservation that will not be used (nothing was spent)."""
        now = self.now()

        def apply(reservation: Reservation) -> Reservation:
            if reservation.status is not ReservationStatus.ACTIVE:
                raise ReservationStateError(
                    f"reservation {reservation_id} is {reservation.status.value}, not active",
                    details={"reservation_id": reservation_id, "status": reservation.status.value},
                )
            return reservation.model_copy(update={"status": ReservationStatus.RELEASED, "settled_at": now})

        return self._finish_reservation(rules.task_of(reservation_id, "r"), reservation_id, apply, now)

    def consume(self, reservation_id: str, *, seen: Reservation | None = None) -> Reservation:
        """Claim a tool reservation once (the executor's proof); a second claim is a ReplayError.

        ``seen`` is the reservation as the caller just read it: a backend may then write the change
        conditional on the record being still that, without reading it again (if it is not, the
        reservation is read and judged afresh).
        """
        now = self.now()

        def apply(reservation: Reservation) -> Reservation:
            rules.check_consumable(reservation, now)
            return reservation.model_copy(update={"status": ReservationStatus.CONSUMED, "consumed_at": now})

        if seen is not None and seen.reservation_id != reservation_id:
            raise InvalidInputError("the reservation seen is not the one consumed")
        return self._update_reservation(rules.task_of(reservation_id, "r"), reservation_id, apply, seen=seen)

    def expire_stale(self, now: datetime | None = None, *, task_id: str | None = None) -> int:
        """Return reservations abandoned past their expiry (a process died between reserve and settle).

        What may have been spent is charged at its reserved amounts (the ledger errs on the side of
        counting, never leaving a spend unrecorded); the rest is released
        (:func:`~agentcage.ledger.rules.charge_on_expiry`). Either way none is held any longer.
        Returns how many.
        """
        at = now or self.now()
        count = 0
        for owner, reservation_id in self._stale_reservations(
            at, rules.validate_task_id(task_id) if task_id else None
        ):

            def apply(reservation: Reservation) -> Reservation:
                if not reservation.status.holds_budget or reservation.expires_at > at:
                    raise ReservationStateError("no longer stale")
                charged = rules.charge_on_expiry(reservation)
                return reservation.model_copy(
                    update={"status": ReservationStatus.EXPIRED, "actual": charged, "settled_at": at}
                )

            try:
                expired = self._finish_reservation(owner, reservation_id, apply, at)
            except ReservationStateError:
                continue  # settled or released meanwhile
            self.append_audit(owner, "reservation_expired", _reservation_audit(expired))
            count += 1
        return count

    def budget_state(self, task_id: str) -> BudgetState:
        """The task's limits, use, reservations and what remains."""
        return BudgetState.of(self.get_task(task_id))

    # --- tool results and audit -------------------------------------------------------------------
    def record_tool_result(self, task_id: str, request_id: str, result: Mapping[str, Any]) -> bool:
        """Record a tool result once per request id: True the first time, False for a duplicate delivery."""
        record = build(
            ToolResultRecord,
            task_id=rules.validate_task_id(task_id),
            request_id=request_id,
            result=dict(result),
            recorded_at=self.now(),
        )
        return self._insert_tool_result(record)

    def tool_results(self, task_id: str) -> list[ToolResultRecord]:
        """The task's recorded tool results in the order they were recorded."""
        results = self._list_tool_results(rules.validate_task_id(task_id))
        return sorted(results, key=lambda r: (r.recorded_at, r.request_id))

    def append_audit(
        self,
        task_id: str,
        kind: str,
        data: Mapping[str, Any],
        *,
        trace_id: str | None = None,
        step: int | None = None,
        agent_id: str | None = None,
    ) -> AuditEvent:
        """Append an event to the task's audit log; ``seq`` is assigned atomically (1, 2, 3, ...)."""
        if not kind:
            raise InvalidInputError("an audit event has a kind")
        now = self.now()
        event = build(
            AuditEvent,
            task_id=rules.validate_task_id(task_id),
            seq=1,
            kind=kind,
            data=dict(data),
            trace_id=trace_id,
            step=step,
            agent_id=agent_id,
            at=now,
        )
        return self._append_audit(
            event.task_id, lambda seq, at: event.model_copy(update={"seq": seq, "at": at}), now
        )

    def audit(self, task_id: str) -> list[AuditEvent]:
        """The task's audit log in order of record."""
        return sorted(self._list_audit(rules.validate_task_id(task_id)), key=lambda e: e.seq)

    # --- circuits and loops -----------------------------------------------------------------------
    def circuit_admit(
        self, tool: str, now: datetime | None = None, *, seen: CircuitRecord | None = None
    ) -> Admission:
        """May ``tool`` be called now? While open, no; after the cool-down, exactly one probe.

        ``seen`` is the circuit as the caller just read it (:meth:`call_records`): when admitting on it
        changes nothing (a closed circuit, an open one still cooling down) that is the answer, without
        another request; a change (claiming the probe) is always made on the stored record.
        """
        at = now or self.now()
        if seen is not None and seen.tool == tool:
            admission, changed = admit(seen, at, self.breaker)
            if changed is None:
                return admission
        return self._update_circuit(tool, lambda record: admit(record, at, self.breaker))

    def circuit_peek(self, tool: str, now: datetime | None = None) -> Admission:
        """Would ``tool`` be let through now? Like :meth:`circuit_admit`, but claims nothing.

        For a gate in front of the one that calls the tool (the coordinator in front of the
        executor): if it claimed the half-open probe, the executor would find the slot taken and the
        probe would never run, so the circuit could never close.
        """
        admission, _ = admit(self.circuit(tool), now or self.now(), self.breaker)
        return admission

    def circuit_release_probe(self, tool: str, admission: Admission) -> bool:
        """Give back the probe ``admission`` claimed when the probe will not be sent (its reservation
        was refused); True if it was still held. The next caller may probe at once."""
        claimed_at = admission.claimed_at
        if not admission.probe or claimed_at is None:
            return False

        def apply(record: CircuitRecord) -> tuple[bool, CircuitRecord | None]:
            released = release_probe(record, claimed_at)
            return released is not None, released

        return self._update_circuit(tool, apply)

    def record_tool_outcome(
        self, tool: str, ok: bool, now: datetime | None = None, *, seen: CircuitRecord | None = None
    ) -> CircuitStatus:
        """Count a finished call toward the tool's circuit; ``tripped`` says this outcome opened it.

        With ``seen`` (the circuit as read before the call), an outcome that changes nothing on it (a
        success on a closed circuit without failures) is not written. If another call failed in
        between, its failure is then not reset by this success: the circuit may open a little sooner,
        never later.
        """
        at = now or self.now()
        if seen is not None and seen.tool == tool and record_outcome(seen, ok, at, self.breaker) == seen:
            return CircuitStatus(
                tool=tool,
                state=seen.state,
                consecutive_failures=seen.consecutive_failures,
                opened_at=seen.opened_at,
            )

        def apply(record: CircuitRecord) -> tuple[CircuitStatus, CircuitRecord | None]:
            after = record_outcome(record, ok, at, self.breaker)
            tripped = after.state is CircuitState.OPEN and record.state is not CircuitState.OPEN
            status = CircuitStatus(
                tool=tool,
                state=after.state,
                consecutive_failures=after.consecutive_failures,
                opened_at=after.opened_at,
                tripped=tripped,
            )
            return status, (after if after != record else None)

        return self._update_circuit(tool, apply)

    def circuit(self, tool: str) -> CircuitRecord:
        """The stored state of ``tool``'s circuit (closed if it never failed)."""
        return self._update_circuit(tool, lambda record: (record, None))

    def note_call(self, task_id: str, tool: str, args_digest: str) -> int:
        """Count one proposal of ``tool`` with ``args_digest`` in the task (atomically); returns the count."""
        return self._increment_call(rules.validate_task_id(task_id), tool, args_digest)


def _new_task_id() -> str:
    from agentcage.envelopes.ids import new_id

    return new_id("task")


def _state(value: TaskState | str) -> TaskState:
    try:
        return TaskState(value)
    except ValueError:
        raise InvalidInputError(f"unknown task state {value!r}") from None


def _reservation_audit(reservation: Reservation) -> dict[str, Any]:
    return {
        "reservation_id": reservation.reservation_id,
        "kind": reservation.kind,
        "tool": reservation.tool,
        "status": reservation.status.value,
        "amounts": reservation.amounts.model_dump(),
        "actual": reservation.actual.model_dump() if reservation.actual else None,
    }
