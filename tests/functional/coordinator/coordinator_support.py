"""Helpers for the coordinator tests: a coordinator over any ledger, an executor double, a queue driver.

The executor double does what the AWS executor does to a request before the data service runs (consume
the reservation once, spend the approval once with the same argument digest) and answers with the
seed data's shapes, so the scripted scenarios play to the end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from agentcage.approvals import ApprovalNotice, DeliveryOutcome, Principal
from agentcage.budget.breaker import BreakerSettings
from agentcage.budget.config import BudgetConfig
from agentcage.budget.pricing import ModelPrice
from agentcage.coordinator import Coordinator, CoordinatorSettings, Outbox
from agentcage.envelopes import AgentStep, ToolError, ToolRequest, ToolResult, new_id
from agentcage.errors import ModelTimeoutError, ReplayError
from agentcage.gate import GovernanceGate
from agentcage.ledger import Ledger, MemoryLedger, Requester, SQLiteLedger
from agentcage.ledger.answers import keep_answer
from agentcage.models import ModelProvider, ScriptedModel
from agentcage.models.base import ModelRequest
from agentcage.models.scripted import SCRIPTED_MODEL_NAME
from agentcage.models.types import Completion
from tests.functional.ledger.ledger_support import START, FakeClock

__all__ = [
    "APPROVER",
    "FINANCE",
    "START",
    "Driver",
    "FakeClock",
    "FakeExecutor",
    "RecordingNotifier",
    "TimingOutModel",
    "budget_config",
    "make_coordinator",
    "open_test_ledger",
]

PRICE = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
APPROVER = Principal(id="approver-oid-1", name="Rita Reviewer", roles=())
FINANCE = Principal(id="finance-oid-2", name="Finn Finance", roles=("finance",))
REQUESTER = Requester(kind="person", id="rep-oid-0", name="Sam Servicerep", roles=("service_rep",))
"""Who the tests' tasks run for: a service rep, whose refund limit covers the scenario's refund."""


VOLUME = {
    "volume_id": "vol-0a1b2c3d",
    "name": "scratch-data",
    "attached": False,
    "tags": {"env": "production-candidate", "owner": "data"},
}


def budget_config(**overrides: Any) -> BudgetConfig:
    values: dict[str, Any] = {
        "prices": {SCRIPTED_MODEL_NAME: PRICE},
        "breaker": BreakerSettings(failure_threshold=3, cooldown_seconds=60, probe_timeout_seconds=30),
        "min_useful_output_tokens": 64,
    }
    values.update(overrides)
    return BudgetConfig(**values)


@contextmanager
def open_test_ledger(backend: str, clock: FakeClock, tmp_path: Path) -> Iterator[Ledger]:
    """A fresh ledger: memory, SQLite in ``tmp_path``, or DynamoDB in moto (in-process)."""
    breaker = budget_config().breaker
    if backend == "memory":
        yield MemoryLedger(breaker=breaker, clock=clock)
        return
    if backend == "sqlite":
        ledger = SQLiteLedger(tmp_path / "ledger.db", breaker=breaker, clock=clock)
        try:
            yield ledger
        finally:
            ledger.close()
        return
    from moto import mock_aws

    from agentcage.ledger.dynamodb import DynamoDBLedger
    from agentcage.ledger.dynamodb_items import create_ledger_table
    from agentcage.ledger.testing import dynamodb_client, serialize_moto_dynamodb

    with mock_aws(), serialize_moto_dynamodb():
        client = dynamodb_client()
        create_ledger_table(client, "ledger")
        yield DynamoDBLedger("ledger", client=client, breaker=breaker, clock=clock)


class RecordingNotifier:
    """Keeps every notice; answers delivered (or not, when told)."""

    def __init__(self, delivered: bool = True) -> None:
        self.notices: list[ApprovalNotice] = []
        self.delivered = delivered

    def notify(self, notice: ApprovalNotice) -> DeliveryOutcome:
        self.notices.append(notice)
        if self.delivered:
            return DeliveryOutcome(delivered=True, attempts=1, status=200)
        return DeliveryOutcome(delivered=False, attempts=3, status=503, error="webhook answered 503")


class TimingOutModel(ModelProvider):
    """The scripted model, except that the calls numbered in ``fail_on`` (1-based) time out."""

    provider = "scripted"

    def __init__(self, fail_on: set[int]) -> None:
        super().__init__(model=SCRIPTED_MODEL_NAME)
        self.inner = ScriptedModel()
        self.fail_on = fail_on
        self.calls = 0

    def _complete_once(self, request: ModelRequest, timeout: float) -> Completion:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ModelTimeoutError(f"model call {self.calls} timed out after {timeout:g} s")
        return self.inner._complete_once(request, timeout)


def make_coordinator(
    ledger: Ledger,
    *,
    model: ModelProvider | None = None,
    notifier: RecordingNotifier | None = None,
    environment: str = "dev",
    **budget: Any,
) -> Coordinator:
    from agentcage.models.base import RetryPolicy

    chosen = model or ScriptedModel()
    chosen.retry = RetryPolicy(max_attempts=1)  # a timeout surfaces at once: the queue redelivers
    settings = CoordinatorSettings(
        environment=environment, budget=budget_config(**budget), public_base_url="https://coord.example"
    )
    return Coordinator(
        ledger=ledger, gate=GovernanceGate.default(), model=chosen, settings=settings, notifier=notifier
    )


def _canned(tool: str, args: dict[str, Any]) -> tuple[str, Any, ToolError | None]:
    if tool == "getCustomer":
        if "customer_id" not in args:
            return "error", None, ToolError(code="invalid_input", message="customer_id is required")
        return (
            "ok",
            {
                "customer_id": args["customer_id"],
                "tier": "gold",
                "lifetime_value_cents": 1284000,
                "prior_exceptions": 0,
            },
            None,
        )
    if tool == "listRecentOrders":
        orders = [{"order_id": "O-50001", "total_cents": 18999, "placed_at": "2030-01-01"}]
        return "ok", {"customer_id": args["customer_id"], "orders": orders}, None
    if tool == "assessReturnException":
        return "ok", {"band": "low", "score": 22, "reasons": ["gold customer"]}, None
    if tool == "listVolumes":
        return "ok", {"volumes": [VOLUME]}, None
    if tool == "getVolume":
        return "ok", VOLUME, None
    if tool == "createRefund":
        return "ok", {"refund_id": "RF-1", "amount_cents": args["amount_cents"]}, None
    return "error", None, ToolError(code="upstream_unavailable", message=f"{tool} answered 503")


@dataclass
class FakeExecutor:
    """What the AWS executor does to each request, with canned service answers."""

    ledger: Ledger
    executed: list[ToolRequest] = field(default_factory=list)
    replays: int = 0
    answer: Callable[[str, dict[str, Any]], tuple[str, Any, ToolError | None]] = _canned

    def execute(self, request: ToolRequest) -> ToolResult | None:
        try:
            self.ledger.consume(request.reservation_id)
        except ReplayError:
            self.replays += 1
            return None
        if request.approval_id:
            self.ledger.use_approval(request.approval_id, request.args_digest)
        # Like the real executor: it claims the circuit (and so the one half-open probe) itself.
        if not self.ledger.circuit_admit(request.tool).allowed:
            return self._result(request, "circuit_open", None, ToolError(code="circuit_open", message="open"))
        self.executed.append(request)
        status, result, error = self.answer(request.tool, dict(request.args))
        # Like the real executor: the outcome counts toward the tool's circuit once, here; a refusal
        # of bad input (4xx from an internal service) is not a failure of the tool.
        if status == "ok" or (error is not None and error.code == "upstream_unavailable"):
            self.ledger.record_tool_outcome(request.tool, ok=status == "ok")
        return self._result(request, status, result, error)

    def _result(self, request: ToolRequest, status: str, result: Any, error: ToolError | None) -> ToolResult:
        # Like the real executor: the answer is kept in the ledger before it is sent (the coordinator
        # records only kept answers).
        answer = ToolResult(
            message_id=new_id("res"),
            request_id=request.message_id,
            task_id=request.task_id,
            step=request.step,
            tool=request.tool,
            status=status,
            result=result,
            error=error,  # type: ignore[arg-type]
            traceparent=request.traceparent,
            completed_at=self.ledger.now(),
        )
        keep_answer(self.ledger, answer, reservation_id=request.reservation_id, trace_id=None)
        return answer


@dataclass
class Driver:
    """Delivers an outbox's messages in order until nothing is left (like the queues, in one thread)."""

    coordinator: Coordinator
    executor: FakeExecutor
    steps: deque[AgentStep] = field(default_factory=deque)
    requests: deque[ToolRequest] = field(default_factory=deque)
    results: list[ToolResult] = field(default_factory=list)

    def push(self, outbox: Outbox) -> None:
        self.steps.extend(outbox.agent_steps)
        self.requests.extend(outbox.tool_requests)

    def run(self, limit: int = 200) -> None:
        for _ in range(limit):
            if self.steps:
                self.push(self.coordinator.run_step(self.steps.popleft()))
            elif self.requests:
                result = self.executor.execute(self.requests.popleft())
                if result is not None:
                    self.results.append(result)
                    self.push(self.coordinator.record_result(result))
            else:
                return
        raise AssertionError("the driver did not settle")

    def start(self, request: str, **kwargs: Any) -> str:
        started = self.coordinator.start_task({"request": request, **kwargs}, requester=REQUESTER)
        self.steps.append(started.step)
        self.run()
        return started.task.task_id
