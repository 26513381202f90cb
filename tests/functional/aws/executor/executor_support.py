"""The executor's test world: moto (DynamoDB domain + ledger tables, SQS results queue), the seeded
data services called in-process, a ledger with a hand-moved clock, and SQS event fixtures made live.

Fixtures in ``tests/events/sqs_*.json`` hold ToolRequests with placeholder reservation and approval
ids and fixed times; :meth:`ExecutorWorld.prepare` makes the ledger records they need (the task, a
tool reservation, an approval) and rewrites those fields, leaving every other byte of the documented
SQS record as it is.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentcage.budget import BreakerSettings, BudgetLimits, Usage
from agentcage.envelopes import RequesterClaim, ToolResult, args_digest, parse_envelope
from agentcage.ledger import ApprovalRecord, Ledger, Requester
from functions.aws.executor import ServiceRequest, ServiceResponse, ServiceTransport, ToolExecutor

EVENTS_DIR = Path(__file__).resolve().parents[3] / "events"
DOMAIN_TABLE = "agentcage-test-domain"
IDEMPOTENCY_TABLE = "agentcage-test-idempotency"
LEDGER_TABLE = "agentcage-test-ledger"
RESULTS_QUEUE = "agentcage-test-tool-results"
FIXTURE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
APPROVER = "7f3c9d2e-approver-oid"
BREAKER = BreakerSettings(failure_threshold=3, cooldown_seconds=60, probe_timeout_seconds=30)
AGENTS = {
    "task-returns-0001": "returns-coordinator",
    "task-procure-0001": "procurement-agent",
    "task-janitor-0001": "janitor-agent",
}


class FakeClock:
    """Real time when the test starts (Powertools' idempotency records use real time), then moved by hand."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


class CountingTransport:
    """Wraps a transport and counts the calls per operation (to prove that nothing executed)."""

    def __init__(self, inner: ServiceTransport) -> None:
        self.inner = inner
        self.calls: list[ServiceRequest] = []

    def send(self, request: ServiceRequest) -> ServiceResponse:
        self.calls.append(request)
        return self.inner.send(request)

    def count(self, operation: str) -> int:
        return sum(1 for call in self.calls if call.operation == operation)


def load_records(name: str) -> list[dict[str, Any]]:
    """A fresh copy of the records of ``tests/events/<name>.json``."""
    event = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(event["Records"])


def record_for(name: str, tool: str) -> dict[str, Any]:
    """The record of fixture ``name`` whose request calls ``tool``."""
    for record in load_records(name):
        if json.loads(record["body"]).get("tool") == tool:
            return record
    raise KeyError(f"{name} has no request for {tool}")


def body_of(record: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(record["body"])
    return body


def with_body(record: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    changed["body"] = json.dumps(body, separators=(",", ":"))
    return changed


@dataclass
class Delivered:
    """One message taken from the results queue."""

    result: ToolResult
    attributes: dict[str, Any]
    system: dict[str, Any]


REQUESTER = Requester(
    kind="person", id="rep-oid-0", name="Sam Servicerep", roles=("service_rep", "operations")
)
"""Who the fixture tasks run for: a service rep who also owns the non-production environments."""


@dataclass
class ExecutorWorld:
    """Everything a test drives or inspects."""

    ledger: Ledger
    clock: FakeClock
    sqs: Any
    results_url: str
    dynamodb: Any
    transport: CountingTransport
    executor: ToolExecutor
    tasks: set[str] = field(default_factory=set)

    def ensure_task(self, task_id: str, *, environment: str = "dev") -> None:
        if task_id in self.tasks:
            return
        self.ledger.create_task(
            task_id=task_id,
            agent_id=AGENTS.get(task_id, "returns-coordinator"),
            environment=environment,
            request="functional test",
            limits=BudgetLimits(
                tokens=100_000,
                cost_micro_usd=1_000_000,
                model_steps=20,
                tool_calls=50,
                deadline=self.clock() + timedelta(hours=1),
            ),
            traceparent=f"00-{FIXTURE_TRACE_ID}-00f067aa0ba902b7-01",
            requester=REQUESTER,
        )
        self.ledger.transition(task_id, "running")
        self.tasks.add(task_id)

    def approval(
        self,
        body: dict[str, Any],
        *,
        args: dict[str, Any] | None = None,
        approver: str = APPROVER,
        roles: tuple[str, ...] = ("finance",),
        ttl_seconds: float = 3600,
        decide: bool = True,
    ) -> ApprovalRecord:
        """An approval for the request in ``body`` (or for other ``args``), decided by ``approver``."""
        bound = body["args"] if args is None else args
        approval = self.ledger.create_approval(
            body["task_id"],
            step=body["step"],
            agent_id=body["agent_id"],
            tool=body["tool"],
            args=bound,
            args_digest=args_digest(bound),
            ttl_seconds=ttl_seconds,
        )
        if decide:
            approval = self.ledger.decide_approval(
                approval.approval_id, True, approver=approver, approver_roles=list(roles)
            )
        return approval

    def prepare(
        self,
        record: dict[str, Any],
        *,
        approve: bool | None = None,
        approval_id: str | None = None,
        reserve_digest: str | None = None,
        expires_in: float = 300,
        **overrides: Any,
    ) -> dict[str, Any]:
        """The fixture record made live: task, reservation and (for writes, unless told) approval."""
        body = body_of(record) | overrides
        if "args" in overrides:
            body["args_digest"] = args_digest(body["args"])
        self.ensure_task(body["task_id"])
        reservation = self.ledger.reserve(
            body["task_id"],
            Usage(tool_calls=1),
            kind="tool",
            tool=body["tool"],
            args_digest=reserve_digest or body["args_digest"],
            agent_id=body["agent_id"],
        )
        body["reservation_id"] = reservation.reservation_id
        wants_approval = approve if approve is not None else body.get("approval_id") is not None
        if approval_id is not None:
            body["approval_id"] = approval_id
        elif wants_approval:
            body["approval_id"] = self.approval(body).approval_id
        else:
            body["approval_id"] = None
        now = self.clock()
        body["issued_at"] = now.isoformat()
        body["expires_at"] = (now + timedelta(seconds=expires_in)).isoformat()
        body.setdefault(
            "requester", RequesterClaim.of(REQUESTER).model_dump(mode="json")
        )  # as the coordinator
        return with_body(record, body)

    def results(self) -> list[Delivered]:
        """Every message on the results queue now (received and deleted)."""
        delivered: list[Delivered] = []
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.results_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                return delivered
            for message in messages:
                delivered.append(
                    Delivered(
                        parse_envelope(ToolResult, message["Body"]),
                        message.get("MessageAttributes", {}),
                        message.get("Attributes", {}),
                    )
                )
                self.sqs.delete_message(QueueUrl=self.results_url, ReceiptHandle=message["ReceiptHandle"])


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def audit_kinds(ledger: Ledger, task_id: str) -> list[str]:
    return [event.kind for event in ledger.audit(task_id)]


def emf_documents(output: str) -> Iterator[dict[str, Any]]:
    """The EMF documents Powertools printed (one JSON object per line)."""
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith("{") and '"_aws"' in line:
            yield json.loads(line)
