"""What the demo records (:class:`Check`, :class:`ScenarioResult`) and the data services' state it reads.

:class:`DomainState` reads the AWS data services' own DynamoDB table (refunds issued, volumes alive, a
vendor's call count) so the demo's checks do not take the system's word for what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from agentcage.envelopes import args_digest
from agentcage.errors import AgentcageError
from agentcage.local.config import DOMAIN_TABLE
from agentcage.local.timeline import TimelineEntry

if TYPE_CHECKING:
    from agentcage.local.aws import LocalAws

__all__ = ["Check", "DomainState", "ScenarioResult", "at", "calls_of", "digest_of"]

_DESERIALIZER = TypeDeserializer()


@dataclass(frozen=True, slots=True)
class Check:
    """One assertion over the system's state."""

    description: str
    passed: bool
    detail: str = ""


@dataclass(slots=True)
class ScenarioResult:
    """What a scenario did and whether it came out as expected."""

    name: str
    expected: str
    task_id: str = ""
    state: str = ""
    outcome: str = ""
    seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """All checks held (and there were some)."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    def check(self, description: str, passed: bool, detail: Any = "") -> None:
        """Record a check."""
        self.checks.append(Check(description, bool(passed), str(detail)))

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {
            "name": self.name,
            "expected": self.expected,
            "passed": self.passed,
            "task_id": self.task_id,
            "state": self.state,
            "outcome": self.outcome,
            "seconds": round(self.seconds, 3),
            "checks": [{"check": c.description, "passed": c.passed, "detail": c.detail} for c in self.checks],
            "timeline": [entry.to_dict() for entry in self.timeline],
        }


def calls_of(task: dict[str, Any]) -> list[dict[str, Any]]:
    """Every call of every step of a task view (``GET /api/tasks/{id}``)."""
    return [call for step in task.get("steps") or [] for call in step.get("calls") or []]


def at(data: Any, *path: str) -> Any:
    """``data[a][b]...``, or ``None`` where a level is missing or not a dict."""
    for name in path:
        data = data.get(name) if isinstance(data, dict) else None
    return data


def digest_of(arguments: Any) -> str | None:
    """The envelopes' ``args_digest`` of ``arguments``; ``None`` when they are not an object."""
    return args_digest(arguments) if isinstance(arguments, dict) else None


class DomainState:
    """Reads the data services' DynamoDB table behind a local host."""

    def __init__(self, aws: LocalAws) -> None:
        self.aws = aws

    def refunds(self, order_id: str) -> list[dict[str, Any]]:
        """Every refund recorded for ``order_id``, as plain values (amounts as int cents)."""
        pages = (
            self.aws.client()
            .get_paginator("scan")
            .paginate(
                TableName=DOMAIN_TABLE,
                FilterExpression="begins_with(PK, :refund) AND order_id = :order",
                ExpressionAttributeValues={":refund": {"S": "REFUND#"}, ":order": {"S": order_id}},
            )
        )
        return [
            {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in item.items()}
            for page in pages
            for item in page["Items"]
        ]

    def volumes(self) -> list[str]:
        """The ids of the live (not deleted) volumes, sorted."""
        return sorted(volume.volume_id for volume in self.aws.repository().list_volumes())

    def volume_alive(self, volume_id: str) -> bool:
        """Whether the volume is still there and not marked deleted."""
        try:
            self.aws.repository().get_volume(volume_id)
        except AgentcageError:  # NotFoundError: gone, or marked deleted
            return False
        return True

    def vendor_calls(self, vendor_id: str) -> int:
        """The calls the vendor saw since its failure mode was last set."""
        item = (
            self.aws.client()
            .get_item(
                TableName=DOMAIN_TABLE, Key={"PK": {"S": "CONTROL"}, "SK": {"S": f"VENDOR_CALLS#{vendor_id}"}}
            )
            .get("Item")
        )
        return int(item["calls"]["N"]) if item and "calls" in item else 0


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, Decimal) and value == int(value) else value
