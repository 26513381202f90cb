"""The ledger over a store that runs each operation as one serializable transaction (memory, SQLite).

Inside a transaction nothing else writes, so every hook is a plain read-check-write: the limit check
and the reservation, the probe claim, the audit sequence number are atomic because the transaction
is. A backend provides only :meth:`SerializableLedger._transaction` and the five item operations of
:class:`ItemStore` over the key layout of :mod:`agentcage.ledger.keys`.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from agentcage.budget.breaker import CircuitRecord
from agentcage.budget.limits import exceeded_limit
from agentcage.errors import (
    ApprovalNotFoundError,
    ConflictError,
    ReservationNotFoundError,
    TaskNotFoundError,
)
from agentcage.ledger import keys, rules
from agentcage.ledger.base import Ledger
from agentcage.ledger.claims import Claim, ClaimScope, OutboxEntry, claim_not_found
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

__all__ = ["ItemStore", "SerializableLedger", "decode", "encode"]

T = TypeVar("T")
_AUDIT_SEQ = "SEQ#AUDIT"


def encode(item: Any) -> str:
    """An item as stored: compact JSON."""
    return json.dumps(item, separators=(",", ":"), sort_keys=True)


def decode(text: str) -> Any:
    """An item as read back."""
    return json.loads(text)


class ItemStore(Protocol):
    """Item operations inside one transaction; items are JSON objects, ``due`` an epoch for sweeps."""

    def get(self, pk: str, sk: str) -> dict[str, Any] | None: ...
    def put(self, pk: str, sk: str, item: dict[str, Any], *, due: float | None = None) -> None: ...
    def insert(self, pk: str, sk: str, item: dict[str, Any], *, due: float | None = None) -> bool: ...
    def delete(self, pk: str, sk: str) -> None: ...
    def query(
        self, pk: str, prefix: str, *, newest_first: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]: ...
    def scan(
        self, prefix: str, *, due_before: float | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]: ...


class SerializableLedger(Ledger):
    """Ledger hooks written once for stores with serializable transactions."""

    @abstractmethod
    def _transaction(self, *, write: bool) -> AbstractContextManager[ItemStore]:
        """One transaction; a write transaction excludes every other writer until it ends."""

    # --- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _task(store: ItemStore, task_id: str) -> TaskRecord:
        item = store.get(keys.task_pk(task_id), keys.META)
        if item is None:
            raise TaskNotFoundError(f"no task {task_id!r}", details={"task_id": task_id})
        return TaskRecord.model_validate(item)

    @staticmethod
    def _put_task(store: ItemStore, task: TaskRecord) -> None:
        store.put(keys.task_pk(task.task_id), keys.META, task.model_dump(mode="json"))

    @staticmethod
    def _reservation(store: ItemStore, task_id: str, reservation_id: str) -> Reservation:
        item = store.get(keys.task_pk(task_id), keys.reservation_sk(reservation_id))
        if item is None:
            raise ReservationNotFoundError(f"no reservation {reservation_id!r}")
        return Reservation.model_validate(item)

    @staticmethod
    def _put_reservation(store: ItemStore, reservation: Reservation) -> None:
        due = reservation.expires_at.timestamp() if reservation.status.holds_budget else None
        pk, sk = keys.task_pk(reservation.task_id), keys.reservation_sk(reservation.reservation_id)
        store.put(pk, sk, reservation.model_dump(mode="json"), due=due)

    @staticmethod
    def _approval(store: ItemStore, task_id: str, approval_id: str) -> ApprovalRecord:
        item = store.get(keys.task_pk(task_id), keys.approval_sk(approval_id))
        if item is None:
            raise ApprovalNotFoundError(f"no approval {approval_id!r}")
        return ApprovalRecord.model_validate(item)

    # --- tasks ------------------------------------------------------------------------------------
    def _insert_task(self, task: TaskRecord) -> None:
        with self._transaction(write=True) as store:
            if not store.insert(keys.task_pk(task.task_id), keys.META, task.model_dump(mode="json")):
                raise ConflictError(f"task {task.task_id} already exists", details={"task_id": task.task_id})

    def _load_task(self, task_id: str) -> TaskRecord:
        with self._transaction(write=False) as store:
            return self._task(store, task_id)

    def _update_task_state(self, task_id: str, apply: Callable[[TaskRecord], TaskRecord]) -> TaskRecord:
        with self._transaction(write=True) as store:
            task = apply(self._task(store, task_id))
            self._put_task(store, task)
            return task

    def _list_tasks(self, limit: int, state: TaskState | None) -> list[TaskRecord]:
        with self._transaction(write=False) as store:
            tasks = [TaskRecord.model_validate(item) for _, item in store.scan(keys.META)]
        chosen = [t for t in tasks if state is None or t.state is state]
        chosen.sort(key=lambda t: (t.created_at, t.task_id), reverse=True)
        return chosen[:limit]

    # --- checkpoints ------------------------------------------------------------------------------
    def _insert_checkpoint(self, checkpoint: Checkpoint) -> bool:
        with self._transaction(write=True) as store:
            task = self._task(store, checkpoint.task_id)
            pk = keys.task_pk(checkpoint.task_id)
            if not store.insert(pk, keys.checkpoint_sk(checkpoint.step), checkpoint.model_dump(mode="json")):
                return False
            if checkpoint.step > task.step:
                self._put_task(
                    store,
                    task.model_copy(update={"step": checkpoint.step, "updated_at": checkpoint.created_at}),
                )
            return True

    def _last_checkpoint(self, task_id: str) -> Checkpoint | None:
        with self._transaction(write=False) as store:
            self._task(store, task_id)
            items = store.query(keys.task_pk(task_id), keys.STEP, newest_first=True, limit=1)
        return Checkpoint.model_validate(items[0]) if items else None

    # --- reservations -----------------------------------------------------------------------------
    def _insert_reservation(self, reservation: Reservation, now: datetime) -> None:
        with self._transaction(write=True) as store:
            task = self._task(store, reservation.task_id)
            rules.check_reservable(task)
            limit = exceeded_limit(task.limits, task.used, task.reserved, reservation.amounts, now)
            if limit is not None:
                raise rules.budget_exceeded(task, reservation.amounts, limit)
            task = rules.apply_deltas(task, {}, reservation.amounts.model_dump(), now)
            self._put_reservation(store, reservation)
            self._put_task(store, task)

    def _load_reservation(self, task_id: str, reservation_id: str) -> Reservation:
        with self._transaction(write=False) as store:
            return self._reservation(store, task_id, reservation_id)

    def _update_reservation(
        self,
        task_id: str,
        reservation_id: str,
        apply: Callable[[Reservation], Reservation],
        *,
        seen: Reservation | None = None,  # noqa: ARG002 - reading inside the transaction costs nothing
    ) -> Reservation:
        with self._transaction(write=True) as store:
            reservation = apply(self._reservation(store, task_id, reservation_id))
            self._put_reservation(store, reservation)
            return reservation

    def _finish_reservation(
        self, task_id: str, reservation_id: str, apply: Callable[[Reservation], Reservation], now: datetime
    ) -> Reservation:
        with self._transaction(write=True) as store:
            before = self._reservation(store, task_id, reservation_id)
            after = apply(before)
            used, reserved = rules.reservation_deltas(before, after)
            task = rules.apply_deltas(self._task(store, task_id), used, reserved, now)
            self._put_reservation(store, after)
            self._put_task(store, task)
            return after

    def _stale_reservations(self, now: datetime, task_id: str | None) -> list[tuple[str, str]]:
        with self._transaction(write=False) as store:
            if task_id is None:
                items = [item for _, item in store.scan(keys.RES, due_before=now.timestamp())]
            else:
                items = store.query(keys.task_pk(task_id), keys.RES)
        stale = [Reservation.model_validate(item) for item in items]
        return [(r.task_id, r.reservation_id) for r in stale if r.status.holds_budget and r.expires_at <= now]

    # --- approvals --------------------------------------------------------------------------------
    def _insert_approval(self, approval: ApprovalRecord) -> None:
        with self._transaction(write=True) as store:
            self._task(store, approval.task_id)
            pk, sk = keys.task_pk(approval.task_id), keys.approval_sk(approval.approval_id)
            if not store.insert(pk, sk, approval.model_dump(mode="json")):
                raise ConflictError(f"approval {approval.approval_id} already exists")

    def _load_approval(self, task_id: str, approval_id: str) -> ApprovalRecord:
        with self._transaction(write=False) as store:
            return self._approval(store, task_id, approval_id)

    def _update_approval(
        self, task_id: str, approval_id: str, apply: Callable[[ApprovalRecord], ApprovalRecord]
    ) -> ApprovalRecord:
        with self._transaction(write=True) as store:
            approval = apply(self._approval(store, task_id, approval_id))
            store.put(keys.task_pk(task_id), keys.approval_sk(approval_id), approval.model_dump(mode="json"))
            return approval

    def _list_approvals(self, task_id: str) -> list[ApprovalRecord]:
        with self._transaction(write=False) as store:
            items = store.query(keys.task_pk(task_id), keys.APPROVAL)
        return sorted((ApprovalRecord.model_validate(i) for i in items), key=lambda a: a.created_at)

    # --- results, audit, circuits, loops ----------------------------------------------------------
    def _insert_tool_result(self, record: ToolResultRecord) -> bool:
        with self._transaction(write=True) as store:
            self._task(store, record.task_id)
            pk, sk = keys.task_pk(record.task_id), keys.result_sk(record.request_id)
            return store.insert(pk, sk, record.model_dump(mode="json"))

    def _list_tool_results(self, task_id: str) -> list[ToolResultRecord]:
        with self._transaction(write=False) as store:
            items = store.query(keys.task_pk(task_id), keys.RESULT)
        return [ToolResultRecord.model_validate(item) for item in items]

    def _append_audit(
        self, task_id: str, build: Callable[[int, datetime], AuditEvent], now: datetime
    ) -> AuditEvent:
        with self._transaction(write=True) as store:
            self._task(store, task_id)
            pk = keys.task_pk(task_id)
            counter = store.get(pk, _AUDIT_SEQ) or {"value": 0}
            event = build(int(counter["value"]) + 1, now)
            store.put(pk, _AUDIT_SEQ, {"value": event.seq})
            store.put(pk, keys.audit_sk(event.at, event.seq), event.model_dump(mode="json"))
            return event

    def _list_audit(self, task_id: str) -> list[AuditEvent]:
        with self._transaction(write=False) as store:
            self._task(store, task_id)
            items = store.query(keys.task_pk(task_id), keys.AUDIT)
        return [AuditEvent.model_validate(item) for item in items]

    def _update_circuit(
        self, tool: str, apply: Callable[[CircuitRecord], tuple[T, CircuitRecord | None]]
    ) -> T:
        with self._transaction(write=True) as store:
            item = store.get(keys.circuit_pk(tool), keys.CIRCUIT_SK)
            record = CircuitRecord.model_validate(item) if item is not None else CircuitRecord(tool=tool)
            result, changed = apply(record)
            if changed is not None:
                store.put(keys.circuit_pk(tool), keys.CIRCUIT_SK, changed.model_dump(mode="json"))
            return result

    def _increment_call(self, task_id: str, tool: str, args_digest: str) -> int:
        with self._transaction(write=True) as store:
            pk, sk = keys.task_pk(task_id), keys.call_sk(tool, args_digest)
            count = int((store.get(pk, sk) or {"count": 0})["count"]) + 1
            store.put(pk, sk, {"count": count})
            return count

    def _load_call_records(
        self, task_id: str, reservation: tuple[str, str], approval: tuple[str, str] | None, tool: str | None
    ) -> CallRecords:
        def found(item: dict[str, Any] | None, model: Any) -> Any:
            return model.model_validate(item) if item is not None else None

        with self._transaction(write=False) as store:
            task = found(store.get(keys.task_pk(task_id), keys.META), TaskRecord)
            held = found(
                store.get(keys.task_pk(reservation[0]), keys.reservation_sk(reservation[1])), Reservation
            )
            asked = (
                found(store.get(keys.task_pk(approval[0]), keys.approval_sk(approval[1])), ApprovalRecord)
                if approval
                else None
            )
            circuit = None
            if tool is not None:
                item = store.get(keys.circuit_pk(tool), keys.CIRCUIT_SK)
                circuit = CircuitRecord.model_validate(item) if item is not None else CircuitRecord(tool=tool)
            seq = int((store.get(keys.task_pk(task_id), _AUDIT_SEQ) or {"value": 0})["value"])
        return CallRecords(task=task, reservation=held, approval=asked, circuit=circuit, audit_seq=seq)

    # --- claims and the outbox --------------------------------------------------------------------
    @staticmethod
    def _put_outbox(store: ItemStore, entries: Iterable[OutboxEntry]) -> None:
        for entry in entries:  # keyed by message id: the same message written twice is one entry
            due = entry.created_at.timestamp() if not entry.delivered else None
            store.insert(keys.task_pk(entry.task_id), keys.outbox_sk(entry.message_id), _dump(entry), due=due)

    def _insert_claim(
        self,
        claim: Claim,
        outbox: list[OutboxEntry],
        audit: list[AuditEvent],
        audit_seq: int | None,  # noqa: ARG002 - numbered inside the transaction
    ) -> tuple[bool, Claim]:
        with self._transaction(write=True) as store:
            pk, sk = keys.task_pk(claim.task_id), keys.claim_sk(claim.scope, claim.key)
            if audit and store.get(pk, keys.META) is None:  # events belong to a task: refuse first
                raise TaskNotFoundError(f"no task {claim.task_id!r}", details={"task_id": claim.task_id})
            existing = store.get(pk, sk)
            if existing is not None:
                return False, Claim.model_validate(existing)
            store.put(pk, sk, _dump(claim))
            self._put_outbox(store, outbox)
            if audit:
                seq = int((store.get(pk, _AUDIT_SEQ) or {"value": 0})["value"])
                for offset, event in enumerate(audit, start=1):
                    numbered = event.model_copy(update={"seq": seq + offset})
                    store.put(pk, keys.audit_sk(numbered.at, numbered.seq), numbered.model_dump(mode="json"))
                store.put(pk, _AUDIT_SEQ, {"value": seq + len(audit)})
            return True, claim

    def _load_claim(self, task_id: str, scope: ClaimScope, key: str) -> Claim | None:
        with self._transaction(write=False) as store:
            item = store.get(keys.task_pk(task_id), keys.claim_sk(scope, key))
        return Claim.model_validate(item) if item is not None else None

    def _complete_claim(
        self,
        task_id: str,
        scope: ClaimScope,
        key: str,
        apply: Callable[[Claim], Claim | None],
        outbox: list[OutboxEntry],
    ) -> Claim:
        with self._transaction(write=True) as store:
            pk, sk = keys.task_pk(task_id), keys.claim_sk(scope, key)
            item = store.get(pk, sk)
            if item is None:
                raise claim_not_found(task_id, scope, key)
            claim = Claim.model_validate(item)
            changed = apply(claim)
            if changed is None:
                return claim
            store.put(pk, sk, _dump(changed))
            self._put_outbox(store, outbox)
            return changed

    def _delete_claim(self, task_id: str, scope: ClaimScope, key: str, claimant: str) -> bool:
        with self._transaction(write=True) as store:
            pk, sk = keys.task_pk(task_id), keys.claim_sk(scope, key)
            item = store.get(pk, sk)
            if item is None:
                return False
            claim = Claim.model_validate(item)
            if claim.claimant != claimant or claim.completed:
                return False
            store.delete(pk, sk)
            return True

    def _list_claims(self, task_id: str, scope: ClaimScope) -> list[Claim]:
        with self._transaction(write=False) as store:
            items = store.query(keys.task_pk(task_id), keys.claim_prefix(scope))
        return [Claim.model_validate(item) for item in items]

    def _undelivered(self, task_id: str | None, before: datetime) -> list[OutboxEntry]:
        with self._transaction(write=False) as store:
            if task_id is None:
                items = [item for _, item in store.scan(keys.OUTBOX, due_before=before.timestamp())]
            else:
                items = store.query(keys.task_pk(task_id), keys.OUTBOX)
        entries = [OutboxEntry.model_validate(item) for item in items]
        return [e for e in entries if not e.delivered and e.created_at <= before]

    def _mark_delivered(self, task_id: str, message_id: str, at: datetime) -> OutboxEntry | None:
        with self._transaction(write=True) as store:
            pk, sk = keys.task_pk(task_id), keys.outbox_sk(message_id)
            item = store.get(pk, sk)
            if item is None:
                return None
            entry = OutboxEntry.model_validate(item)
            if entry.delivered:
                return entry
            entry = entry.model_copy(update={"delivered_at": at})
            store.put(pk, sk, _dump(entry))
            return entry


def _dump(record: Claim | OutboxEntry) -> dict[str, Any]:
    dumped: dict[str, Any] = record.model_dump(mode="json")
    return dumped
