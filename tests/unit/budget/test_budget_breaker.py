"""The circuit breaker rules as pure functions, checked against a plain model of the state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.budget import (
    BreakerSettings,
    BudgetLimits,
    CircuitRecord,
    CircuitState,
    LoopDetector,
    admit,
    record_outcome,
)
from agentcage.errors import LoopDetectedError
from agentcage.ledger import MemoryLedger

NOW = datetime(2030, 1, 1, tzinfo=UTC)
SETTINGS = BreakerSettings(failure_threshold=3, cooldown_seconds=10, probe_timeout_seconds=10)


@settings(max_examples=200, deadline=None)
@given(outcomes=st.lists(st.booleans(), max_size=30))
def test_circuit_opens_exactly_at_the_nth_consecutive_failure(outcomes: list[bool]) -> None:
    # GIVEN any sequence of outcomes with no time passing (so no probe is ever admitted)
    record = CircuitRecord(tool="t")
    streak = 0
    opened = False
    for ok in outcomes:
        record = record_outcome(record, ok, NOW, SETTINGS)
        if not opened:
            streak = 0 if ok else streak + 1
            opened = streak >= SETTINGS.failure_threshold
        # THEN the circuit is open exactly when the plain model says so, and open stays open
        assert (record.state is CircuitState.OPEN) == opened
        assert admit(record, NOW, SETTINGS)[0].allowed == (not opened)


def test_cooldown_then_one_probe_then_refusal() -> None:
    record = CircuitRecord(tool="t")
    for _ in range(3):
        record = record_outcome(record, False, NOW, SETTINGS)

    refused, unchanged = admit(record, NOW + timedelta(seconds=9), SETTINGS)
    probe, claimed = admit(record, NOW + timedelta(seconds=10), SETTINGS)
    assert claimed is not None
    second, _ = admit(claimed, NOW + timedelta(seconds=10), SETTINGS)

    assert (refused.allowed, unchanged) == (False, None)
    assert refused.retry_at == NOW + timedelta(seconds=10)
    assert (probe.allowed, probe.probe, claimed.state) == (True, True, CircuitState.HALF_OPEN)
    assert claimed.version == record.version + 1
    assert (second.allowed, second.probe) == (False, False)


def test_clean_success_writes_nothing() -> None:
    record = CircuitRecord(tool="t", version=4)
    assert record_outcome(record, True, NOW, SETTINGS) is record


def test_loop_detector_refuses_the_kth_identical_call() -> None:
    ledger = MemoryLedger()

    limits = BudgetLimits(
        tokens=1, cost_micro_usd=1, model_steps=1, tool_calls=1, deadline=NOW + timedelta(days=1)
    )
    task = ledger.create_task(agent_id="a", environment="dev", request="r", limits=limits)
    detector = LoopDetector(threshold=3)

    assert detector.check(ledger, task.task_id, "getOrders", "aa" * 32) == 1
    assert detector.check(ledger, task.task_id, "getOrders", "bb" * 32) == 1
    assert detector.check(ledger, task.task_id, "getOrders", "aa" * 32) == 2
    with pytest.raises(LoopDetectedError) as raised:
        detector.check(ledger, task.task_id, "getOrders", "aa" * 32)
    assert raised.value.details["count"] == 3
    with pytest.raises(ValueError, match="at least two"):
        LoopDetector(threshold=1)
