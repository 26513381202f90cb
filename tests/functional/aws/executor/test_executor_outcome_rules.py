"""The executor counts outcomes by the budget layer's one rule, gives back an unsent probe, takes its
breaker from the budget configuration, and emits the metric names the dashboard charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentcage.budget import BreakerSettings
from agentcage.constants import (
    BUDGET_CONFIG_ENV,
    LEDGER_BACKEND_ENV,
    METRIC_BREAKER_TRIPS,
    METRIC_COST_MICRO_USD,
    METRIC_DIMENSION_REASON,
    METRIC_DIMENSION_TOOL,
    METRIC_TOKENS_USED,
    METRIC_TOOL_CALLS,
    METRIC_TOOL_DENIALS,
    METRIC_TOOL_LATENCY,
    METRICS_NAMESPACE,
)
from agentcage.errors import ConflictError, TransportError
from agentcage.gate import GovernanceGate
from functions.aws import tool_executor
from functions.aws.executor import (
    InProcessTransport,
    PowertoolsToolMetrics,
    ServiceResponse,
    build_executor,
    circuit_failure,
)
from tests.functional.aws.executor.executor_support import (
    BREAKER,
    ExecutorWorld,
    batch,
    emf_documents,
    record_for,
)


@pytest.mark.parametrize(
    ("egress", "response", "failure"),
    [
        (True, ServiceResponse(503, None), True),
        (True, ServiceResponse(404, None), True),
        (False, ServiceResponse(404, None), False),
        (False, ServiceResponse(409, None), False),
        (False, ServiceResponse(200, {}), False),
        (False, TransportError("timed out", details={"timeout": True}), True),
        (False, TransportError("could not be reached"), True),
    ],
)
def test_the_executor_counts_failures_by_the_budget_layers_rule(
    egress: bool, response: ServiceResponse | TransportError, failure: bool
) -> None:
    assert circuit_failure(egress, response) is failure


def test_an_executor_built_without_a_ledger_uses_the_stacks_breaker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gate: GovernanceGate
) -> None:
    # GIVEN the budget file a stack deploys, with a cool-down unlike the default
    budget_file = tmp_path / "budget.yaml"
    budget_file.write_text("breaker: {failure_threshold: 3, cooldown_seconds: 600}\n", encoding="utf-8")
    monkeypatch.setenv(BUDGET_CONFIG_ENV, str(budget_file))
    monkeypatch.setenv(LEDGER_BACKEND_ENV, "memory")

    executor = build_executor(gate=gate, transport=InProcessTransport(), publisher=_NoPublisher())

    assert executor.ledger.breaker == BreakerSettings(failure_threshold=3, cooldown_seconds=600)


class _NoPublisher:
    def publish(self, result: Any) -> None:  # pragma: no cover - nothing is executed
        raise AssertionError("not expected")


def test_a_probe_refused_at_its_approval_is_given_back(
    world: ExecutorWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN createRefund's circuit open and its cool-down over
    for _ in range(BREAKER.failure_threshold):
        world.ledger.record_tool_outcome("createRefund", False, world.clock())
    world.clock.advance(BREAKER.cooldown_seconds + 1)
    record = world.prepare(record_for("sqs_tool_requests_returns", "createRefund"))

    # WHEN the request claims the probe and then loses its approval to a concurrent delivery
    def spent_elsewhere(*_: Any) -> None:
        raise ConflictError("the approval was used by another delivery")

    monkeypatch.setattr(world.executor.gate, "spend_approval", spent_elsewhere)
    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN it is refused without calling the service, and the probe is free again at once
    [refused] = world.results()
    assert refused.result.status == "denied"
    assert world.transport.count("createRefund") == 0
    admission = world.ledger.circuit_admit("createRefund", world.clock())
    assert (admission.allowed, admission.probe) == (True, True)


def test_every_metric_the_dashboard_charts_is_one_the_code_emits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infra.components.aws_monitoring import AGENTCAGE_METRICS, METRIC_NAMESPACE, AwsMonitoring

    # GIVEN what the executor and the budget guard emit (EMF documents on stdout)
    metrics = PowertoolsToolMetrics()
    metrics.tool_call("getCustomer", 12.5, ok=True)
    metrics.denial("getCustomer", "policy_denied")
    metrics.breaker_trip("negotiateVendorTerms")
    _guard_emissions()
    documents = list(emf_documents(capsys.readouterr().out))
    emitted = {
        metric["Name"]
        for document in documents
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    namespaces = {
        directive["Namespace"]
        for document in documents
        for directive in document["_aws"]["CloudWatchMetrics"]
    }

    # THEN they are the constants' names, in the dashboard's namespace
    assert METRIC_NAMESPACE == METRICS_NAMESPACE
    assert namespaces == {METRICS_NAMESPACE}
    assert emitted == {
        METRIC_TOOL_CALLS,
        METRIC_TOOL_DENIALS,
        METRIC_TOOL_LATENCY,
        METRIC_BREAKER_TRIPS,
        METRIC_TOKENS_USED,
        METRIC_COST_MICRO_USD,
    }
    trips = [d for d in documents if METRIC_BREAKER_TRIPS in d]
    assert {d[METRIC_DIMENSION_REASON] for d in trips} == {"circuit_open", "budget_exceeded"}
    assert any(d.get(METRIC_DIMENSION_TOOL) == "negotiateVendorTerms" for d in trips)

    # AND every agentcage metric the dashboard and alarms chart is among them (or the sweeper's)
    body = AwsMonitoring._dashboard("us-east-1", ["fn"], ["dlq"])
    charted = {name for name in AGENTCAGE_METRICS if f"({name})" in body}
    assert charted == set(AGENTCAGE_METRICS)
    assert emitted <= charted
    assert charted - emitted <= {"ReservationsExpired"}  # emitted by the ledger sweeper, not here
    assert f"SUM({METRIC_BREAKER_TRIPS}) FROM {METRICS_NAMESPACE} GROUP BY {METRIC_DIMENSION_REASON}" in body


def _guard_emissions() -> None:
    """A budget guard with the EMF sink: one settled model call, one budget trip."""
    from decimal import Decimal

    from agentcage.budget import BudgetConfig, BudgetGuard, EmfMetricsSink, ModelPrice
    from agentcage.errors import BudgetExceededError
    from agentcage.ledger import MemoryLedger

    price = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
    config = BudgetConfig(prices={"gpt-4o": price})
    ledger = MemoryLedger()
    guard = BudgetGuard(ledger, config, metrics=EmfMetricsSink(service="coordinator"))
    limits = config.limits_for({"tokens": 2_000}, ledger.now())
    task = ledger.create_task(agent_id="a", environment="dev", request="r", limits=limits)
    ledger.transition(task.task_id, "running")
    with guard.model_call(task.task_id, model="gpt-4o", request="hello", requested_max_tokens=300) as call:
        call.settle(3, 40)
    with (
        pytest.raises(BudgetExceededError),
        guard.model_call(task.task_id, model="gpt-4o", request="x" * 1_900, requested_max_tokens=300),
    ):
        pass
    assert ledger.get_task(task.task_id).state.value == "halted"
