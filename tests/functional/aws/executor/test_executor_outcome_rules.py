"""The executor counts outcomes by the budget layer's one rule, gives back an unsent probe, and takes its
breaker from the budget configuration (its metric names: tests/infra/test_infra_monitoring_names.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentcage.budget import BreakerSettings
from agentcage.constants import BUDGET_CONFIG_ENV, LEDGER_BACKEND_ENV
from agentcage.errors import ConflictError, TransportError
from agentcage.gate import GovernanceGate
from functions.aws import tool_executor
from functions.aws.executor import (
    InProcessTransport,
    ServiceResponse,
    build_executor,
    circuit_failure,
)
from tests.functional.aws.executor.executor_support import (
    BREAKER,
    ExecutorWorld,
    batch,
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
