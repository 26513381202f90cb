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
    counts_as_failure,
    record_outcome,
    release_probe,
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


def _opened() -> CircuitRecord:
    record = CircuitRecord(tool="t")
    for _ in range(SETTINGS.failure_threshold):
        record = record_outcome(record, False, NOW, SETTINGS)
    return record


def test_a_probe_given_back_lets_the_next_caller_probe_at_once() -> None:
    # GIVEN a probe claimed after the cool-down
    later = NOW + timedelta(seconds=SETTINGS.cooldown_seconds)
    probe, claimed = admit(_opened(), later, SETTINGS)
    assert claimed is not None
    assert probe.claimed_at == later

    # WHEN it is given back unsent
    released = release_probe(claimed, later)

    # THEN the circuit is open with its cool-down over: the next caller claims the probe immediately
    assert released is not None
    assert (released.state, released.probe_claimed_at) == (CircuitState.OPEN, None)
    assert released.version == claimed.version + 1
    again, _ = admit(released, later + timedelta(milliseconds=1), SETTINGS)
    assert (again.allowed, again.probe) == (True, True)


def test_only_the_current_claim_can_give_the_probe_back() -> None:
    later = NOW + timedelta(seconds=SETTINGS.cooldown_seconds)
    _, claimed = admit(_opened(), later, SETTINGS)
    assert claimed is not None
    # the first claim timed out and another caller holds the slot now
    reclaimed_at = later + timedelta(seconds=SETTINGS.probe_timeout_seconds)
    _, reclaimed = admit(claimed, reclaimed_at, SETTINGS)
    assert reclaimed is not None

    assert release_probe(reclaimed, later) is None  # the stale claim changes nothing
    assert release_probe(_opened(), later) is None  # open, nothing claimed
    assert release_probe(CircuitRecord(tool="t"), later) is None  # closed
    assert release_probe(reclaimed, reclaimed_at) is not None


@pytest.mark.parametrize(
    ("status", "egress", "timed_out", "failure"),
    [
        (200, False, False, False),
        (204, True, False, False),
        (302, True, False, False),
        (400, True, False, False),  # the caller's mistake, not the tool's health
        (403, False, False, False),
        (404, False, False, False),  # an internal service: the record is not there
        (404, True, False, True),  # an egress tool: the vendor's endpoint is gone
        (409, True, False, False),
        (429, True, False, False),
        (500, False, False, True),
        (502, True, False, True),
        (503, False, False, True),
        (504, False, True, True),
        (None, False, False, True),  # no answer at all (the network failed)
        (None, True, True, True),  # a timeout
        (200, False, True, True),  # an answer that came too late still timed out
    ],
)
def test_what_counts_as_a_tool_failure(
    status: int | None, egress: bool, timed_out: bool, failure: bool
) -> None:
    assert counts_as_failure(status, egress=egress, timed_out=timed_out) is failure


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
