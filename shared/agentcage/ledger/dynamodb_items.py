"""How ledger records map to DynamoDB items, and the table the DynamoDB ledger expects.

Table: partition key ``PK`` (S), sort key ``SK`` (S), on-demand capacity, TTL on the attribute
``expires_at_epoch`` (see :mod:`agentcage.ledger.keys` for the item layout). Infra creates it in the
cloud; :func:`create_ledger_table` creates the same table for tests and the local runtime.

A task's META item keeps its changing numbers as separate attributes so that reservations can move
them with atomic ``SET a = a + :d`` updates and condition on them: ``used_*``, ``reserved_*`` and
``headroom_*`` (= limit - used - reserved, what a reservation condition compares against, because a
condition expression cannot add), ``deadline_epoch``, ``state``, ``step`` and ``audit_seq``. Every
other record is stored whole as JSON in ``doc``, with a ``version`` for conditional writes and the
few attributes its conditions read.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from agentcage.budget.limits import AMOUNT_FIELDS, Usage
from agentcage.ledger import keys
from agentcage.ledger.models import TaskRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = [
    "TTL_ATTRIBUTE",
    "create_ledger_table",
    "from_item",
    "task_from_item",
    "task_to_item",
    "to_item",
    "values",
]

TTL_ATTRIBUTE = "expires_at_epoch"
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_STATIC_TASK_FIELDS = (
    "task_id", "agent_id", "environment", "request", "context", "limits", "traceparent", "created_at",
    "message_nonce", "requester", "driver",
)  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _serialize(value: Any) -> Any:
    # DynamoDB numbers are decimals; a float goes through its shortest repr so it is not widened.
    return _SERIALIZER.serialize(Decimal(repr(value)) if isinstance(value, float) else value)


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Python values to DynamoDB attribute values (None values are left out)."""
    return {name: _serialize(value) for name, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values to Python values (integral numbers become int)."""
    return {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in item.items()}


def values(**named: Any) -> dict[str, Any]:
    """``ExpressionAttributeValues`` from keyword arguments (``:name`` placeholders)."""
    return {f":{name}": _serialize(value) for name, value in named.items()}


def task_to_item(task: TaskRecord) -> dict[str, Any]:
    """The META item of a new task."""
    doc = task.model_dump(mode="json", include=set(_STATIC_TASK_FIELDS))
    attributes: dict[str, Any] = {
        "PK": keys.task_pk(task.task_id),
        "SK": keys.META,
        "kind": "task",
        "doc": json.dumps(doc, separators=(",", ":")),
        "state": task.state.value,
        "step": task.step,
        "updated_at": task.updated_at.isoformat(),
        "created_at": task.created_at.isoformat(),
        "deadline_epoch": int(task.limits.deadline.timestamp()),
        "audit_seq": 0,
    }
    limits = task.limits.amounts()
    for name in AMOUNT_FIELDS:
        used, reserved = getattr(task.used, name), getattr(task.reserved, name)
        attributes[f"used_{name}"] = used
        attributes[f"reserved_{name}"] = reserved
        attributes[f"headroom_{name}"] = getattr(limits, name) - used - reserved
    return to_item(attributes)


def task_from_item(item: dict[str, Any]) -> TaskRecord:
    """The task record of a META item."""
    plain = from_item(item)
    doc = json.loads(plain["doc"])
    return TaskRecord.model_validate(
        {
            **doc,
            "state": plain["state"],
            "step": plain["step"],
            "updated_at": plain["updated_at"],
            "halt_reason": plain.get("halt_reason"),
            "final_answer": plain.get("final_answer"),
            "error": json.loads(plain["error"]) if plain.get("error") else None,
            "used": Usage(**{name: plain[f"used_{name}"] for name in AMOUNT_FIELDS}),
            "reserved": Usage(**{name: plain[f"reserved_{name}"] for name in AMOUNT_FIELDS}),
        }
    )


def create_ledger_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the ledger table (PK/SK strings, on-demand, TTL on ``expires_at_epoch``) and wait for it."""
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
