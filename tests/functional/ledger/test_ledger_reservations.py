"""Conformance: reservations check every limit atomically, settle exactly, and are consumed once."""

from __future__ import annotations

import threading

import pytest

from agentcage.budget.limits import Usage
from agentcage.errors import (
    BudgetExceededError,
    ConflictError,
    OverspendError,
    ReplayError,
    ReservationNotFoundError,
    ReservationStateError,
)
from agentcage.ledger import Ledger, ReservationStatus
from tests.functional.ledger.ledger_support import FakeClock, new_task, run_threads


def test_settle_records_actual_use_and_releases_the_rest(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a model reservation of 3000 tokens
    task = new_task(ledger, clock)
    reservation = ledger.reserve(
        task.task_id, Usage(tokens=3000, cost_micro_usd=900, model_steps=1), kind="model"
    )
    assert ledger.budget_state(task.task_id).reserved == reservation.amounts

    # WHEN it settles at 1200 tokens
    settled = ledger.settle(reservation.reservation_id, Usage(tokens=1200, cost_micro_usd=300, model_steps=1))

    # THEN the actual use counts, nothing stays reserved, and the rest is available again
    state = ledger.budget_state(task.task_id)
    assert settled.status is ReservationStatus.SETTLED
    assert state.used == Usage(tokens=1200, cost_micro_usd=300, model_steps=1)
    assert state.reserved.is_zero()
    assert state.remaining == Usage(tokens=8800, cost_micro_usd=49_700, model_steps=9, tool_calls=10)


@pytest.mark.parametrize(
    ("limit", "amounts"),
    [
        ("tokens", Usage(tokens=10_001)),
        ("cost_micro_usd", Usage(cost_micro_usd=50_001)),
        ("model_steps", Usage(model_steps=11)),
        ("tool_calls", Usage(tool_calls=11)),
    ],
)
def test_reservation_past_a_limit_names_it_and_reserves_nothing(
    ledger: Ledger, clock: FakeClock, limit: str, amounts: Usage
) -> None:
    task = new_task(ledger, clock)

    with pytest.raises(BudgetExceededError) as raised:
        ledger.reserve(task.task_id, amounts, kind="model")

    assert raised.value.details["limit"] == limit
    assert ledger.budget_state(task.task_id).reserved.is_zero()


def test_reservations_count_what_is_already_reserved(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    ledger.reserve(task.task_id, Usage(tokens=6000), kind="model")
    ledger.reserve(task.task_id, Usage(tokens=4000), kind="model")  # exactly the limit fits

    with pytest.raises(BudgetExceededError) as raised:
        ledger.reserve(task.task_id, Usage(tokens=1), kind="model")

    assert raised.value.details == {
        "limit": "tokens",
        "requested": 1,
        "used": 0,
        "reserved": 10_000,
        "allowed": 10_000,
    }


def test_reservation_after_the_deadline_names_the_deadline(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    clock.advance(15 * 60)

    with pytest.raises(BudgetExceededError) as raised:
        ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")

    assert raised.value.details["limit"] == "deadline"


def test_final_task_reserves_nothing(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    ledger.transition(task.task_id, "halted", reason="operator stop")
    with pytest.raises(ConflictError):
        ledger.reserve(task.task_id, Usage(tokens=1), kind="model")


def test_release_gives_everything_back_and_only_once(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    reservation = ledger.reserve(task.task_id, Usage(tokens=500, model_steps=1), kind="model")

    released = ledger.release(reservation.reservation_id)

    assert released.status is ReservationStatus.RELEASED
    state = ledger.budget_state(task.task_id)
    assert state.used.is_zero()
    assert state.reserved.is_zero()
    with pytest.raises(ReservationStateError):
        ledger.release(reservation.reservation_id)
    with pytest.raises(ReservationStateError):
        ledger.settle(reservation.reservation_id, Usage())


def test_settling_twice_is_refused(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    reservation = ledger.reserve(task.task_id, Usage(tokens=100), kind="model")
    ledger.settle(reservation.reservation_id, Usage(tokens=50))

    with pytest.raises(ReservationStateError):
        ledger.settle(reservation.reservation_id, Usage(tokens=50))

    assert ledger.budget_state(task.task_id).used.tokens == 50


def test_overspend_is_recorded_in_full_audited_then_raised(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a reservation of 100 tokens
    task = new_task(ledger, clock)
    reservation = ledger.reserve(task.task_id, Usage(tokens=100, model_steps=1), kind="model")

    # WHEN the provider reports 130
    with pytest.raises(OverspendError) as raised:
        ledger.settle(reservation.reservation_id, Usage(tokens=130, model_steps=1))

    # THEN the error names the field, the real use is what the ledger says, and the audit log has it
    assert raised.value.details["fields"] == ["tokens"]
    assert ledger.budget_state(task.task_id).used.tokens == 130
    overspends = [e for e in ledger.audit(task.task_id) if e.kind == "overspend"]
    assert len(overspends) == 1
    assert overspends[0].data["actual"]["tokens"] == 130


def test_tool_reservation_is_consumed_once(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    reservation = ledger.reserve(
        task.task_id, Usage(tool_calls=1), kind="tool", tool="issueRefund", args_digest="ab" * 32
    )

    consumed = ledger.consume(reservation.reservation_id)

    assert consumed.status is ReservationStatus.CONSUMED
    assert consumed.consumed_at == clock()
    with pytest.raises(ReplayError):
        ledger.consume(reservation.reservation_id)
    ledger.settle(reservation.reservation_id, Usage(tool_calls=1))
    with pytest.raises(ReplayError):
        ledger.consume(reservation.reservation_id)


def test_model_reservation_and_expired_tool_reservation_cannot_be_consumed(
    ledger: Ledger, clock: FakeClock
) -> None:
    task = new_task(ledger, clock)
    model = ledger.reserve(task.task_id, Usage(tokens=10), kind="model")
    tool = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer", ttl_seconds=5)

    clock.advance(5)

    with pytest.raises(ReservationStateError):
        ledger.consume(model.reservation_id)
    with pytest.raises(ReservationStateError) as raised:
        ledger.consume(tool.reservation_id)
    assert not isinstance(raised.value, ReplayError)


def test_concurrent_consumers_let_exactly_one_execute(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN one tool reservation and eight executors that received the same (redelivered) message
    task = new_task(ledger, clock)
    reservation = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="issueRefund")
    winners: list[int] = []

    def executor(index: int) -> None:
        ledger.consume(reservation.reservation_id)
        winners.append(index)

    errors = run_threads(8, executor)

    # THEN exactly one consumed it and the seven others were told it is a replay
    assert len(winners) == 1
    assert len(errors) == 7
    assert all(isinstance(e, ReplayError) for e in errors)


def test_expire_stale_releases_unconsumed_tool_calls_and_charges_what_may_have_run(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an abandoned model reservation (its process died, the call maybe sent), a tool call
    # reserved but never consumed, one consumed but never settled, and a live one
    task = new_task(ledger, clock)
    abandoned = ledger.reserve(task.task_id, Usage(tokens=700, model_steps=1), kind="model", ttl_seconds=60)
    never_sent = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="t", ttl_seconds=60)
    executed = ledger.reserve(
        task.task_id, Usage(tool_calls=1, cost_micro_usd=5), kind="tool", tool="t", ttl_seconds=60
    )
    ledger.consume(executed.reservation_id)
    live = ledger.reserve(task.task_id, Usage(tokens=100), kind="model", ttl_seconds=600)

    # WHEN the sweeper runs after the first three expired
    count = ledger.expire_stale(clock.advance(61))

    # THEN none of them is held any longer: the model call and the consumed tool call are charged in
    # full (they may have been billed or executed), the tool call nobody consumed is released
    assert count == 3
    state = ledger.budget_state(task.task_id)
    assert state.used == Usage(tokens=700, model_steps=1, tool_calls=1, cost_micro_usd=5)
    assert state.reserved == Usage(tokens=100)
    for reservation in (abandoned, never_sent, executed):
        assert ledger.get_reservation(reservation.reservation_id).status is ReservationStatus.EXPIRED
    assert ledger.get_reservation(never_sent.reservation_id).actual is None
    assert ledger.get_reservation(live.reservation_id).status is ReservationStatus.ACTIVE
    assert ledger.expire_stale(clock(), task_id=task.task_id) == 0


def test_late_settlement_of_an_expired_reservation_records_the_truth(
    ledger: Ledger, clock: FakeClock
) -> None:
    task = new_task(ledger, clock)
    reservation = ledger.reserve(
        task.task_id, Usage(tokens=1000, model_steps=1), kind="model", ttl_seconds=30
    )
    ledger.expire_stale(clock.advance(31), task_id=task.task_id)

    ledger.settle(reservation.reservation_id, Usage(tokens=400, model_steps=1))

    state = ledger.budget_state(task.task_id)
    assert state.used == Usage(tokens=400, model_steps=1)
    assert state.reserved.is_zero()
    assert "late_settlement" in [e.kind for e in ledger.audit(task.task_id)]


@pytest.mark.parametrize(
    "reservation_id", ["nope", "task-1.r0123456789abcdef0123", "task-1.a0123456789abcdef0123"]
)
def test_unknown_reservation_is_not_found(ledger: Ledger, clock: FakeClock, reservation_id: str) -> None:
    new_task(ledger, clock)
    with pytest.raises(ReservationNotFoundError):
        ledger.settle(reservation_id, Usage())
    with pytest.raises(ReservationNotFoundError):
        ledger.consume(reservation_id)


def test_concurrent_workers_never_spend_past_the_budget(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a budget of 5000 tokens and 16 workers that reserve 300 and spend between 150 and 300
    task = new_task(ledger, clock, tokens=5000, model_steps=1000, cost_micro_usd=10**9)
    spent: list[int] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        for attempt in range(12):
            try:
                reservation = ledger.reserve(task.task_id, Usage(tokens=300, model_steps=1), kind="model")
            except BudgetExceededError:
                continue
            actual = 150 + (index * 37 + attempt * 11) % 151
            ledger.settle(reservation.reservation_id, Usage(tokens=actual, model_steps=1))
            with lock:
                spent.append(actual)

    errors = run_threads(16, worker)

    # THEN nothing failed, the sum of settled use never passed the budget, and the ledger agrees
    assert errors == []
    state = ledger.budget_state(task.task_id)
    assert sum(spent) <= 5000
    assert state.used.tokens == sum(spent)
    assert state.used.model_steps == len(spent)
    assert state.reserved.is_zero()
