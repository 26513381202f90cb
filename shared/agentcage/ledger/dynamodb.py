"""The DynamoDB ledger: the cloud backend, one table shared by the coordinator and the AWS functions.

Every check-and-change is one conditional request: ``reserve`` is a TransactWriteItems whose update
of the task's META item is conditional on every limit (per-limit ``headroom_*`` counters, the
deadline and the task state) together with a put-if-absent of the reservation; settling moves the
counters and the reservation (conditional on its ``version``) in one transaction; approvals,
reservations and circuits change only through writes conditional on the version that was read.
A lost race is retried after re-reading; a transaction conflict is retried with jittered backoff.

Listing tasks and sweeping stale reservations across tasks scan the table; that is fine for the
sizes here, and a large deployment would add a sparse GSI on ``due_epoch``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from agentcage.budget.breaker import CircuitRecord
from agentcage.budget.limits import AMOUNT_FIELDS, exceeded_limit
from agentcage.errors import AgentcageError, ConflictError, ReservationNotFoundError, TaskNotFoundError
from agentcage.ledger import keys, rules
from agentcage.ledger.dynamodb_claims import DynamoDBClaimHooks
from agentcage.ledger.dynamodb_items import (
    TTL_ATTRIBUTE,
    from_item,
    task_from_item,
    task_to_item,
    to_item,
    values,
)
from agentcage.ledger.dynamodb_store import LostRaceError, cancellation_reasons, error_code
from agentcage.ledger.models import (
    ApprovalRecord,
    CallRecords,
    Checkpoint,
    Reservation,
    TaskRecord,
    TaskState,
)

__all__ = ["DynamoDBLedger"]

_LIVE_STATES = [TaskState.PENDING.value, TaskState.RUNNING.value, TaskState.AWAITING_APPROVAL.value]

_RESERVE_CONDITION = " AND ".join(
    ["attribute_exists(PK)", "#state IN (:pending, :running, :awaiting)", "deadline_epoch > :now"]
    + [f"headroom_{name} >= :{name}" for name in AMOUNT_FIELDS]
)
_RESERVE_UPDATE = "SET updated_at = :updated, " + ", ".join(
    f"reserved_{name} = reserved_{name} + :{name}, headroom_{name} = headroom_{name} - :{name}"
    for name in AMOUNT_FIELDS
)
_MOVE_UPDATE = "SET updated_at = :updated, " + ", ".join(
    f"used_{n} = used_{n} + :u_{n}, reserved_{n} = reserved_{n} + :r_{n}, "
    f"headroom_{n} = headroom_{n} + :h_{n}"
    for n in AMOUNT_FIELDS
)


class DynamoDBLedger(DynamoDBClaimHooks):
    """A ledger in one DynamoDB table (``client`` injected; built from boto3 only when not given).

    ``DynamoDBLedger(table_name=None, *, client=None, retention_days=30, max_attempts=25,
    breaker=None, clock=None)``: the table name falls back to ``AGENTCAGE_LEDGER_TABLE``; finished
    reservations, approvals and results carry a TTL ``retention_days`` after they end.
    """

    # --- tasks ------------------------------------------------------------------------------------
    def _insert_task(self, task: TaskRecord) -> None:
        try:
            self._call("put_item", Item=task_to_item(task), ConditionExpression="attribute_not_exists(PK)")
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise ConflictError(
                    f"task {task.task_id} already exists", details={"task_id": task.task_id}
                ) from None
            raise

    def _load_task(self, task_id: str) -> TaskRecord:
        item = self._get(keys.task_pk(task_id), keys.META)
        if item is None:
            raise TaskNotFoundError(f"no task {task_id!r}", details={"task_id": task_id})
        return task_from_item(item)

    def _update_task_state(self, task_id: str, apply: Callable[[TaskRecord], TaskRecord]) -> TaskRecord:
        for _ in self._attempts():
            task = self._load_task(task_id)
            changed = apply(task)
            attributes = {
                "state": changed.state.value,
                "updated_at": changed.updated_at.isoformat(),
                "halt_reason": changed.halt_reason,
                "final_answer": changed.final_answer,
                "error": json.dumps(changed.error) if changed.error else None,
            }
            present = {k: v for k, v in attributes.items() if v is not None}
            sets = ", ".join(f"#{k} = :{k}" for k in present)
            try:
                self._call(
                    "update_item",
                    Key=to_item({"PK": keys.task_pk(task_id), "SK": keys.META}),
                    UpdateExpression=f"SET {sets}",
                    ConditionExpression="#state = :expected",
                    ExpressionAttributeNames={f"#{k}": k for k in {*present, "state"}},
                    ExpressionAttributeValues=values(**present, expected=task.state.value),
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    continue
                raise
            return changed
        raise AssertionError("unreachable")  # pragma: no cover

    def _list_tasks(self, limit: int, state: TaskState | None) -> list[TaskRecord]:
        tasks = [task_from_item(item) for item in self._scan("SK = :meta", meta=keys.META)]
        chosen = [t for t in tasks if state is None or t.state is state]
        chosen.sort(key=lambda t: (t.created_at, t.task_id), reverse=True)
        return chosen[:limit]

    # --- checkpoints ------------------------------------------------------------------------------
    def _insert_checkpoint(self, checkpoint: Checkpoint) -> bool:
        pk, sk = keys.task_pk(checkpoint.task_id), keys.checkpoint_sk(checkpoint.step)
        item = self._doc_item(pk, sk, checkpoint, 1)
        put = {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}
        advance = {
            "Update": {
                "Key": to_item({"PK": pk, "SK": keys.META}),
                "UpdateExpression": "SET #step = :step, updated_at = :at",
                "ConditionExpression": "attribute_exists(PK) AND #step < :step",
                "ExpressionAttributeNames": {"#step": "step"},
                "ExpressionAttributeValues": values(
                    step=checkpoint.step, at=checkpoint.created_at.isoformat()
                ),
            }
        }
        for _ in self._attempts():
            try:
                self._transact([put, advance])
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                reasons = cancellation_reasons(error)
                if "TransactionConflict" in reasons:
                    continue
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False  # this step already has its checkpoint: a redelivery
                self._load_task(checkpoint.task_id)  # TaskNotFoundError when the task is missing
                try:  # an older step saved late: keep it, the step counter stays where it is
                    self._put_versioned(item, 0)
                except LostRaceError:
                    return False
            return True
        raise AssertionError("unreachable")  # pragma: no cover

    def _last_checkpoint(self, task_id: str) -> Checkpoint | None:
        self._load_task(task_id)
        items = self._query(keys.task_pk(task_id), keys.STEP, ScanIndexForward=False, Limit=1)
        return self._doc(items[0], Checkpoint)[0] if items else None

    # --- reservations -----------------------------------------------------------------------------
    def _reservation_item(self, reservation: Reservation, version: int) -> dict[str, Any]:
        extra: dict[str, Any] = {"status": reservation.status.value}
        if reservation.status.holds_budget:
            extra["due_epoch"] = reservation.expires_at.timestamp()
        else:  # only a finished reservation may be deleted by TTL: a live one still holds budget
            extra[TTL_ATTRIBUTE] = self._expiry(reservation.settled_at or reservation.expires_at)
        pk, sk = keys.task_pk(reservation.task_id), keys.reservation_sk(reservation.reservation_id)
        return self._doc_item(pk, sk, reservation, version, **extra)

    def _insert_reservation(self, reservation: Reservation, now: datetime) -> None:
        amounts = reservation.amounts
        update = {
            "Update": {
                "Key": to_item({"PK": keys.task_pk(reservation.task_id), "SK": keys.META}),
                "UpdateExpression": _RESERVE_UPDATE,
                "ConditionExpression": _RESERVE_CONDITION,
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": values(
                    pending=_LIVE_STATES[0], running=_LIVE_STATES[1], awaiting=_LIVE_STATES[2],
                    now=int(now.timestamp()), updated=now.isoformat(),
                    **{name: getattr(amounts, name) for name in AMOUNT_FIELDS},
                ),
            }
        }  # fmt: skip
        put = {
            "Put": {
                "Item": self._reservation_item(reservation, 1),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        for _ in self._attempts():
            try:
                self._transact([update, put])
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                reasons = cancellation_reasons(error)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    self._explain_refusal(reservation, now)
                continue  # a conflict, or the budget moved between the refusal and the explanation
            return
        raise AssertionError("unreachable")  # pragma: no cover

    def _explain_refusal(self, reservation: Reservation, now: datetime) -> None:
        """Raise the error a refused reservation deserves (the condition does not say which limit failed)."""
        task = self._load_task(reservation.task_id)
        rules.check_reservable(task)
        # the condition compares whole seconds; the rule compares exact times
        limit = exceeded_limit(task.limits, task.used, task.reserved, reservation.amounts, now)
        if limit is None and int(task.limits.deadline.timestamp()) <= int(now.timestamp()):
            limit = "deadline"
        if limit is not None:
            raise rules.budget_exceeded(task, reservation.amounts, limit)

    def _load_reservation_versioned(self, task_id: str, reservation_id: str) -> tuple[Reservation, int]:
        item = self._get(keys.task_pk(task_id), keys.reservation_sk(reservation_id))
        if item is None:
            raise ReservationNotFoundError(f"no reservation {reservation_id!r}")
        return self._doc(item, Reservation)

    def _load_reservation(self, task_id: str, reservation_id: str) -> Reservation:
        return self._load_reservation_versioned(task_id, reservation_id)[0]

    def _update_reservation(
        self,
        task_id: str,
        reservation_id: str,
        apply: Callable[[Reservation], Reservation],
        *,
        seen: Reservation | None = None,
    ) -> Reservation:
        if seen is not None:
            changed = self._update_seen(seen, apply)
            if changed is not None:
                return changed
        return self._cas(
            lambda: self._load_reservation_versioned(task_id, reservation_id),
            apply,
            lambda reservation, version: self._put_versioned(
                self._reservation_item(reservation, version + 1), version
            ),
        )

    def _update_seen(
        self, seen: Reservation, apply: Callable[[Reservation], Reservation]
    ) -> Reservation | None:
        """Change a reservation from ``seen`` without reading it: one UpdateItem conditional on the stored
        document being ``seen``'s. ``None`` when it is not (or ``seen`` refuses the change): read afresh."""
        try:
            changed = apply(seen)
        except AgentcageError:
            return None  # let the fresh record say why
        if changed.status.holds_budget != seen.status.holds_budget:
            return None  # the sweep attributes move too: the versioned write handles them
        try:
            self._call(
                "update_item",
                Key=to_item(
                    {"PK": keys.task_pk(seen.task_id), "SK": keys.reservation_sk(seen.reservation_id)}
                ),
                UpdateExpression="SET doc = :doc, #status = :status, version = version + :one",
                ConditionExpression="doc = :seen",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values(
                    doc=changed.model_dump_json(),
                    status=changed.status.value,
                    one=1,
                    seen=seen.model_dump_json(),
                ),
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return changed

    def _finish_reservation(
        self, task_id: str, reservation_id: str, apply: Callable[[Reservation], Reservation], now: datetime
    ) -> Reservation:
        for _ in self._attempts():
            before, version = self._load_reservation_versioned(task_id, reservation_id)
            after = apply(before)
            used, reserved = rules.reservation_deltas(before, after)
            moves: dict[str, Any] = {"updated": now.isoformat()}
            for name in AMOUNT_FIELDS:
                moves |= {
                    f"u_{name}": used[name],
                    f"r_{name}": reserved[name],
                    f"h_{name}": -(used[name] + reserved[name]),
                }
            items = [
                {
                    "Put": {
                        "Item": self._reservation_item(after, version + 1),
                        "ConditionExpression": "#v = :v",
                        "ExpressionAttributeNames": {"#v": "version"},
                        "ExpressionAttributeValues": values(v=version),
                    }
                },
                {
                    "Update": {
                        "Key": to_item({"PK": keys.task_pk(task_id), "SK": keys.META}),
                        "UpdateExpression": _MOVE_UPDATE,
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": values(**moves),
                    }
                },
            ]
            try:
                self._transact(items)
            except ClientError as error:
                if error_code(error) == "TransactionCanceledException":
                    continue  # the reservation changed or the task item was busy: read again
                raise
            return after
        raise AssertionError("unreachable")  # pragma: no cover

    def _load_call_records(
        self, task_id: str, reservation: tuple[str, str], approval: tuple[str, str] | None, tool: str | None
    ) -> CallRecords:
        # One TransactGetItems: consistent, all-or-nothing, and authorised as GetItem per item.
        wanted = [
            (keys.task_pk(task_id), keys.META),
            (keys.task_pk(reservation[0]), keys.reservation_sk(reservation[1])),
        ]
        if approval is not None:
            wanted.append((keys.task_pk(approval[0]), keys.approval_sk(approval[1])))
        if tool is not None:
            wanted.append((keys.circuit_pk(tool), keys.CIRCUIT_SK))
        items = self._get_together(wanted)
        task = task_from_item(items[0]) if items[0] else None
        held = self._doc(items[1], Reservation)[0] if items[1] else None
        rest = items[2:]
        asked = None
        if approval is not None:
            item, rest = rest[0], rest[1:]
            asked = self._doc(item, ApprovalRecord)[0] if item else None
        circuit = None
        if tool is not None:
            circuit = self._doc(rest[0], CircuitRecord)[0] if rest[0] else CircuitRecord(tool=tool)
        seq = int(from_item(items[0]).get("audit_seq", 0)) if items[0] else 0
        return CallRecords(task=task, reservation=held, approval=asked, circuit=circuit, audit_seq=seq)

    def _stale_reservations(self, now: datetime, task_id: str | None) -> list[tuple[str, str]]:
        if task_id is None:
            items = self._scan(
                "begins_with(SK, :res) AND due_epoch <= :now", res=keys.RES, now=now.timestamp()
            )
        else:
            items = self._query(keys.task_pk(task_id), keys.RES)
        stale = [self._doc(item, Reservation)[0] for item in items]
        return [(r.task_id, r.reservation_id) for r in stale if r.status.holds_budget and r.expires_at <= now]
