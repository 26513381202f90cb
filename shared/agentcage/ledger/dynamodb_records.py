"""DynamoDB hooks for approvals, tool results, the audit log, circuits and loop counters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from agentcage.budget.breaker import CircuitRecord
from agentcage.errors import ApprovalNotFoundError, ConflictError, TaskNotFoundError
from agentcage.ledger import keys
from agentcage.ledger.dynamodb_items import TTL_ATTRIBUTE, from_item, to_item, values
from agentcage.ledger.dynamodb_store import DynamoDBStore, LostRaceError, error_code
from agentcage.ledger.models import ApprovalRecord, AuditEvent, ToolResultRecord

__all__ = ["DynamoDBRecordHooks"]

T = TypeVar("T")


class DynamoDBRecordHooks(DynamoDBStore):
    """Approvals, results, audit, circuits and loops over the ledger table."""

    # --- approvals --------------------------------------------------------------------------------
    def _approval_item(self, approval: ApprovalRecord, version: int) -> dict[str, Any]:
        return self._doc_item(
            keys.task_pk(approval.task_id),
            keys.approval_sk(approval.approval_id),
            approval,
            version,
            status=approval.status.value,
            **{TTL_ATTRIBUTE: self._expiry(approval.expires_at)},
        )

    def _insert_approval(self, approval: ApprovalRecord) -> None:
        self._load_task(approval.task_id)
        try:
            self._put_versioned(self._approval_item(approval, 1), 0)
        except LostRaceError:
            raise ConflictError(f"approval {approval.approval_id} already exists") from None

    def _load_approval_versioned(self, task_id: str, approval_id: str) -> tuple[ApprovalRecord, int]:
        item = self._get(keys.task_pk(task_id), keys.approval_sk(approval_id))
        if item is None:
            raise ApprovalNotFoundError(f"no approval {approval_id!r}")
        return self._doc(item, ApprovalRecord)

    def _load_approval(self, task_id: str, approval_id: str) -> ApprovalRecord:
        return self._load_approval_versioned(task_id, approval_id)[0]

    def _update_approval(
        self, task_id: str, approval_id: str, apply: Callable[[ApprovalRecord], ApprovalRecord]
    ) -> ApprovalRecord:
        return self._cas(
            lambda: self._load_approval_versioned(task_id, approval_id),
            apply,
            lambda approval, version: self._put_versioned(
                self._approval_item(approval, version + 1), version
            ),
        )

    def _list_approvals(self, task_id: str) -> list[ApprovalRecord]:
        items = self._query(keys.task_pk(task_id), keys.APPROVAL)
        return sorted((self._doc(item, ApprovalRecord)[0] for item in items), key=lambda a: a.created_at)

    # --- tool results -----------------------------------------------------------------------------
    def _insert_tool_result(self, record: ToolResultRecord) -> bool:
        self._load_task(record.task_id)
        pk, sk = keys.task_pk(record.task_id), keys.result_sk(record.request_id)
        item = self._doc_item(pk, sk, record, 1, **{TTL_ATTRIBUTE: self._expiry(record.recorded_at)})
        try:
            self._put_versioned(item, 0)
        except LostRaceError:
            return False
        return True

    def _list_tool_results(self, task_id: str) -> list[ToolResultRecord]:
        return [
            self._doc(item, ToolResultRecord)[0] for item in self._query(keys.task_pk(task_id), keys.RESULT)
        ]

    # --- audit ------------------------------------------------------------------------------------
    def _append_audit(
        self, task_id: str, build: Callable[[int, datetime], AuditEvent], now: datetime
    ) -> AuditEvent:
        # The sequence number comes from an atomic ADD on the task; the event is then put under it.
        # Two writers can never get the same number; a crash between the two leaves a gap, not a swap.
        try:
            response = self._call(
                "update_item",
                Key=to_item({"PK": keys.task_pk(task_id), "SK": keys.META}),
                UpdateExpression="ADD audit_seq :one",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=values(one=1),
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise TaskNotFoundError(f"no task {task_id!r}", details={"task_id": task_id}) from None
            raise
        event = build(int(from_item(response["Attributes"])["audit_seq"]), now)
        item = self._doc_item(
            keys.task_pk(task_id), keys.audit_sk(event.at, event.seq), event, 1, seq=event.seq
        )
        self._call("put_item", Item=item)
        return event

    def _list_audit(self, task_id: str) -> list[AuditEvent]:
        self._load_task(task_id)
        return [self._doc(item, AuditEvent)[0] for item in self._query(keys.task_pk(task_id), keys.AUDIT)]

    # --- circuits and loops -----------------------------------------------------------------------
    def _update_circuit(
        self, tool: str, apply: Callable[[CircuitRecord], tuple[T, CircuitRecord | None]]
    ) -> T:
        pk = keys.circuit_pk(tool)
        for _ in self._attempts():
            item = self._get(pk, keys.CIRCUIT_SK)
            record, version = self._doc(item, CircuitRecord) if item else (CircuitRecord(tool=tool), 0)
            result, changed = apply(record)
            if changed is None:
                return result
            try:
                self._put_versioned(self._doc_item(pk, keys.CIRCUIT_SK, changed, version + 1), version)
            except LostRaceError:
                continue  # another caller changed the circuit first (e.g. claimed the probe): decide again
            return result
        raise AssertionError("unreachable")  # pragma: no cover - _attempts raises when exhausted

    def _increment_call(self, task_id: str, tool: str, args_digest: str) -> int:
        response = self._call(
            "update_item",
            Key=to_item({"PK": keys.task_pk(task_id), "SK": keys.call_sk(tool, args_digest)}),
            UpdateExpression="ADD call_count :one",
            ExpressionAttributeValues=values(one=1),
            ReturnValues="UPDATED_NEW",
        )
        return int(from_item(response["Attributes"])["call_count"])
