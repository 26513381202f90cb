"""Budget edge cases users of other LLM gateways report, over every ledger backend (issue 12).

Each is taken from a public tracker of a gateway that reserves budgets: an unpriced model that slips
through uncounted, spend left unrecorded when the store does not answer, a burst of first requests
that all pass a limit, reservations of crashed calls that hold a budget for ever, and worst-case
reservations larger than what is left that pin a task at its limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from agentcage.budget import BudgetConfig, BudgetGuard, ModelCall, ModelPrice
from agentcage.budget.limits import Usage
from agentcage.errors import (
    BudgetExceededError,
    ConflictError,
    LedgerUnavailableError,
    ModelTimeoutError,
)
from agentcage.ledger import Ledger, ReservationStatus, SQLiteLedger, TaskState
from functions.aws import ledger_sweeper
from functions.aws.ledger_sweeper import sweep
from tests.functional.ledger.ledger_support import FakeClock, new_task, run_threads

PRICE = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
CEILING = ModelPrice(input_usd_per_million=Decimal("15.00"), output_usd_per_million=Decimal("60.00"))
CONFIG = BudgetConfig(prices={"gpt-4o": PRICE}, min_useful_output_tokens=100, request_overhead_tokens=0)
REQUEST = {"messages": [{"role": "user", "content": "refund order O-1001 outside the return window"}]}


@pytest.fixture(autouse=True)
def _sweeper_metrics_flushed() -> Iterator[None]:
    """sweep() adds its count to the Lambda's metrics, which only its handler flushes: drop them."""
    yield
    ledger_sweeper.metrics.clear_metrics()


def _unavailable(*_: object, **__: object) -> None:
    raise LedgerUnavailableError("the ledger did not answer within its timeout")


# --- a cost that cannot be estimated ------------------------------------------------------------------
def test_a_model_without_a_price_is_never_called_and_its_task_halts_with_the_reason(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a task, and a guard that knows the price of gpt-4o only
    task = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)

    # WHEN the agent loop asks to call a model nobody priced
    with (
        pytest.raises(BudgetExceededError) as raised,
        guard.model_call(task.task_id, model="gpt-5-preview", request=REQUEST, requested_max_tokens=500),
    ):
        pytest.fail("the model must not be called")

    # THEN nothing was reserved or spent, and the task halted saying why
    assert raised.value.details["reason"] == "price_unknown"
    assert raised.value.details["model"] == "gpt-5-preview"
    halted = ledger.get_task(task.task_id)
    assert halted.state is TaskState.HALTED
    assert "'gpt-5-preview' cannot be estimated" in (halted.halt_reason or "")
    state = ledger.budget_state(task.task_id)
    assert state.reserved.is_zero()
    assert state.used.is_zero()


def test_a_configured_price_ceiling_bounds_an_unpriced_model_and_charges_it(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a guard with a price ceiling for models without a price of their own
    task = new_task(ledger, clock, cost_micro_usd=1_000_000)
    guard = BudgetGuard(ledger, CONFIG.model_copy(update={"price_ceiling": CEILING}))

    # WHEN an unpriced model is called and answers
    with guard.model_call(
        task.task_id, model="gpt-5-preview", request=REQUEST, requested_max_tokens=500
    ) as call:
        call.settle(input_tokens=40, output_tokens=200)

    # THEN it was bounded and charged at the ceiling, and says so
    assert call.priced_at_ceiling
    assert call.plan.reservation.cost_micro_usd == CEILING.cost_micro_usd(call.plan.input_tokens_bound, 500)
    assert ledger.budget_state(task.task_id).used.cost_micro_usd == CEILING.cost_micro_usd(40, 200)


# --- a ledger that does not answer ----------------------------------------------------------------------
def test_a_ledger_that_does_not_answer_before_the_call_means_no_call(
    ledger: Ledger, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a ledger that times out on the reservation
    task = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)
    monkeypatch.setattr(ledger, "reserve", _unavailable)

    # WHEN a model call is asked for
    with (
        pytest.raises(LedgerUnavailableError, match="did not answer"),
        guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=500),
    ):
        pytest.fail("the model must not be called without a reservation")

    # THEN the task is untouched (it resumes when the step is delivered again)
    monkeypatch.undo()
    assert ledger.get_task(task.task_id).state is TaskState.RUNNING
    assert ledger.budget_state(task.task_id).used.is_zero()


@pytest.mark.parametrize("failure", ["answered", "timed_out"])
def test_a_spend_the_ledger_could_not_record_is_charged_by_the_sweep_never_forgotten(
    ledger: Ledger, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    # GIVEN a model call that was sent, and a ledger that stops answering before it is accounted for
    task = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)
    calls: list[ModelCall] = []

    def call_while_the_ledger_goes_away() -> None:
        with guard.model_call(
            task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=500
        ) as call:
            calls.append(call)
            monkeypatch.setattr(ledger, "settle", _unavailable)
            if failure == "answered":
                call.settle(input_tokens=40, output_tokens=200)  # the provider billed it
            raise ModelTimeoutError("no answer", details={"attempts": 1})

    with pytest.raises((LedgerUnavailableError, ModelTimeoutError)):
        call_while_the_ledger_goes_away()
    monkeypatch.undo()
    [call] = calls
    # ... so the reservation still holds the call's upper bound
    reserved = ledger.budget_state(task.task_id).reserved
    assert reserved == call.plan.reservation

    # WHEN the ledger is back and the sweeper runs after the reservation's expiry
    clock.advance(CONFIG.reservation_ttl_seconds + 1)
    assert sweep(ledger) == 1

    # THEN the call is recorded as spent at its upper bound: nothing held, nothing forgotten
    state = ledger.budget_state(task.task_id)
    assert state.reserved.is_zero()
    assert state.used == call.plan.reservation
    assert ledger.get_reservation(call.reservation.reservation_id).status is ReservationStatus.EXPIRED


# --- many first requests racing for a new task ------------------------------------------------------------
@pytest.mark.parametrize("workers", [32])
def test_many_first_requests_racing_for_a_new_task_all_count_against_its_limit(
    ledger: Ledger, clock: FakeClock, workers: int
) -> None:
    # GIVEN a task just created, nothing reserved yet, allowing 5 tool calls and 2000 tokens
    task = new_task(ledger, clock, tool_calls=5, tokens=2000)
    won: list[str] = []

    # WHEN 32 first requests reserve at the same moment, half of them tool calls, half model calls
    def first_request(index: int) -> None:
        if index % 2:
            reservation = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
        else:
            reservation = ledger.reserve(task.task_id, Usage(tokens=300, model_steps=1), kind="model")
        won.append(reservation.reservation_id)

    errors = run_threads(workers, first_request)

    # THEN exactly what fits was reserved, every other request was refused naming its limit
    state = ledger.budget_state(task.task_id)
    assert state.reserved == Usage(tool_calls=5, tokens=6 * 300, model_steps=6)
    assert len(won) == 11
    assert len(errors) == workers - 11
    assert all(isinstance(e, BudgetExceededError) for e in errors), errors
    assert {e.details["limit"] for e in errors if isinstance(e, BudgetExceededError)} == {
        "tool_calls",
        "tokens",
    }


def test_first_requests_racing_through_separate_sqlite_connections_all_count(
    tmp_path: Path, clock: FakeClock
) -> None:
    # GIVEN four ledgers on one SQLite file (as four processes would open it), and a new task
    ledgers = [SQLiteLedger(tmp_path / "shared.db", clock=clock) for _ in range(4)]
    task = new_task(ledgers[0], clock, tool_calls=7)

    # WHEN 32 first requests reserve at once, eight through each ledger
    def first_request(index: int) -> None:
        ledgers[index % 4].reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")

    errors = run_threads(32, first_request)

    # THEN SQLite's write lock, not a lock of this process, kept them to the limit
    assert len(errors) == 25
    assert all(isinstance(e, BudgetExceededError) for e in errors), errors
    assert ledgers[3].budget_state(task.task_id).reserved.tool_calls == 7
    for ledger in ledgers:
        ledger.close()


def test_racing_first_model_calls_never_spend_past_the_limit(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a new task with room for about three calls' worth of tokens
    task = new_task(ledger, clock, tokens=1500, model_steps=100)
    guard = BudgetGuard(ledger, CONFIG)
    calls: list[int] = []

    # WHEN 16 model calls start at once, each asking for up to 400 output tokens
    def model_call(_: int) -> None:
        with guard.model_call(
            task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=400
        ) as call:
            calls.append(call.plan.reservation.tokens)
            call.settle(input_tokens=call.plan.input_tokens_bound, output_tokens=call.max_tokens)

    errors = run_threads(16, model_call)

    # THEN every call that ran was reserved first, they never passed the limit, and the rest were
    # refused: the first refusal halts the task (the breaker), so later ones find it halted
    assert calls
    assert errors
    assert all(
        isinstance(e, BudgetExceededError) or (isinstance(e, ConflictError) and "halted" in e.message)
        for e in errors
    ), errors
    assert any(isinstance(e, BudgetExceededError) for e in errors)
    state = ledger.budget_state(task.task_id)
    assert state.used.tokens == sum(calls) <= 1500
    assert state.reserved.is_zero()


# --- reservations left by crashed calls -----------------------------------------------------------------
def test_the_sweeper_returns_every_reservation_crashed_calls_left(
    ledger: Ledger, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN N calls whose processes died: model calls mid-flight, tool calls reserved but never sent,
    # tool calls consumed by an executor that died inside them
    crashed = 12
    task = new_task(ledger, clock, tokens=100_000, tool_calls=100, model_steps=100)
    guard = BudgetGuard(ledger, CONFIG)
    in_flight = []  # kept referenced: a dead process runs no clean-up, not even garbage collection
    for index in range(crashed):
        if index % 3 == 0:
            # entered and never left: the process died while the provider answered
            call = guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=500)
            call.__enter__()
            in_flight.append(call)
        else:
            reservation = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
            if index % 3 == 1:
                ledger.consume(reservation.reservation_id)
    leaked = ledger.budget_state(task.task_id).reserved
    with capsys.disabled():
        print(f"\n[{type(ledger).__name__}] after {crashed} crashed calls, held: {leaked.model_dump()}")
    assert leaked.tokens > 0
    assert leaked.tool_calls == 8

    # WHEN the scheduled sweeper runs after their expiry
    clock.advance(CONFIG.reservation_ttl_seconds + 1)
    assert sweep(ledger) == crashed

    # THEN no budget is held any longer; what may have run is charged, what never ran is released
    state = ledger.budget_state(task.task_id)
    with capsys.disabled():
        print(f"[{type(ledger).__name__}] after a sweep, held: {state.reserved.model_dump()}")
    assert state.reserved.is_zero()
    assert state.reserved.tokens == 0
    assert state.used.tokens == leaked.tokens  # the four model calls, at their upper bound
    assert state.used.tool_calls == 4  # the consumed ones; the four never sent are released
    assert sweep(ledger) == 0
    assert len(in_flight) == 4


# --- worst-case estimates clamped to what remains ------------------------------------------------------
def test_a_task_is_never_pinned_at_its_limit_by_reservations_larger_than_it_can_use(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a task with 3000 tokens, and an agent loop that always asks for 4096 output tokens
    task = new_task(ledger, clock, tokens=3000, model_steps=100)
    guard = BudgetGuard(ledger, CONFIG)
    reserved: list[int] = []
    halted_by: BudgetExceededError | None = None

    # WHEN it calls the model again and again, each answer using every token it was allowed
    for _ in range(20):
        remaining = ledger.budget_state(task.task_id).remaining.tokens
        try:
            with guard.model_call(
                task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=4096
            ) as call:
                reserved.append(call.plan.reservation.tokens)
                assert call.plan.reservation.tokens <= remaining  # clamped, never above what is left
                call.settle(input_tokens=call.plan.input_tokens_bound, output_tokens=call.max_tokens)
        except BudgetExceededError as error:
            halted_by = error
            break

    # THEN every call fit in what was left, the budget was used down to less than one useful call,
    # nothing is left reserved, and the task halted saying which limit
    assert reserved
    assert halted_by is not None
    assert halted_by.details["limit"] == "tokens"
    state = ledger.budget_state(task.task_id)
    assert state.reserved.is_zero()
    assert state.used.tokens == sum(reserved) <= 3000
    assert state.remaining.tokens < halted_by.details["input_tokens_bound"] + CONFIG.min_useful_output_tokens
