"""Conformance: per-tool circuits shared across tasks, a single half-open probe, loop counters."""

from __future__ import annotations

import threading

from agentcage.budget.breaker import CircuitState
from agentcage.ledger import Ledger
from tests.functional.ledger.ledger_support import BREAKER, FakeClock, new_task, run_threads

TOOL = "negotiateVendorTerms"


def _open(ledger: Ledger) -> None:
    for _ in range(BREAKER.failure_threshold):
        ledger.record_tool_outcome(TOOL, False)


def test_circuit_opens_after_consecutive_failures_and_refuses_at_once(ledger: Ledger) -> None:
    statuses = [ledger.record_tool_outcome(TOOL, False) for _ in range(3)]

    assert [s.tripped for s in statuses] == [False, False, True]
    assert statuses[-1].state is CircuitState.OPEN
    admission = ledger.circuit_admit(TOOL)
    assert (admission.allowed, admission.probe, admission.state) == (False, False, CircuitState.OPEN)
    assert ledger.circuit_admit("getCustomer").allowed  # other tools are unaffected


def test_a_success_resets_the_failure_count(ledger: Ledger) -> None:
    ledger.record_tool_outcome(TOOL, False)
    ledger.record_tool_outcome(TOOL, False)
    ledger.record_tool_outcome(TOOL, True)
    ledger.record_tool_outcome(TOOL, False)

    assert ledger.circuit(TOOL).state is CircuitState.CLOSED
    assert ledger.circuit(TOOL).consecutive_failures == 1


def test_half_open_lets_exactly_one_probe_through_under_concurrency(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN an open circuit whose cool-down has passed
    _open(ledger)
    clock.advance(BREAKER.cooldown_seconds)
    admissions = []
    lock = threading.Lock()

    def caller(_: int) -> None:
        admission = ledger.circuit_admit(TOOL)
        with lock:
            admissions.append(admission)

    # WHEN twelve tasks ask at the same moment
    errors = run_threads(12, caller)

    # THEN exactly one of them is the probe; the others are refused
    assert errors == []
    assert sum(a.allowed for a in admissions) == 1
    assert sum(a.probe for a in admissions) == 1


def test_probe_success_closes_and_probe_failure_reopens(ledger: Ledger, clock: FakeClock) -> None:
    _open(ledger)
    clock.advance(BREAKER.cooldown_seconds)
    assert ledger.circuit_admit(TOOL).probe

    failed = ledger.record_tool_outcome(TOOL, False)
    assert failed.state is CircuitState.OPEN
    assert failed.tripped
    assert not ledger.circuit_admit(TOOL).allowed  # the cool-down starts again

    clock.advance(BREAKER.cooldown_seconds)
    assert ledger.circuit_admit(TOOL).probe
    closed = ledger.record_tool_outcome(TOOL, True)
    assert closed.state is CircuitState.CLOSED
    assert closed.consecutive_failures == 0
    assert ledger.circuit_admit(TOOL).allowed


def test_a_lost_probe_is_given_up_after_the_probe_timeout(ledger: Ledger, clock: FakeClock) -> None:
    _open(ledger)
    clock.advance(BREAKER.cooldown_seconds)
    assert ledger.circuit_admit(TOOL).probe  # this caller dies and never reports

    clock.advance(BREAKER.probe_timeout_seconds - 1)
    assert not ledger.circuit_admit(TOOL).allowed
    clock.advance(1)
    assert ledger.circuit_admit(TOOL).probe


def test_late_success_of_a_call_admitted_before_opening_does_not_close(ledger: Ledger) -> None:
    _open(ledger)
    assert ledger.record_tool_outcome(TOOL, True).state is CircuitState.OPEN


def test_loop_counter_counts_each_call_once_under_concurrency(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    counts: list[int] = []
    lock = threading.Lock()

    def caller(_: int) -> None:
        count = ledger.note_call(task.task_id, TOOL, "ab" * 32)
        with lock:
            counts.append(count)

    assert run_threads(10, caller) == []

    assert sorted(counts) == list(range(1, 11))
    assert ledger.note_call(task.task_id, TOOL, "cd" * 32) == 1


def test_peeking_at_a_half_open_circuit_claims_nothing(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN an open circuit whose cool-down has passed
    _open(ledger)
    clock.advance(BREAKER.cooldown_seconds + 1)
    # WHEN a gate in front of the caller peeks, twice
    peeks = [ledger.circuit_peek(TOOL), ledger.circuit_peek(TOOL)]
    # THEN both see the call would be let through, and the caller still gets the one probe
    assert [p.allowed for p in peeks] == [True, True]
    admission = ledger.circuit_admit(TOOL)
    assert (admission.allowed, admission.probe) == (True, True)
    assert ledger.circuit_peek(TOOL).allowed is False  # the probe is out: others wait
