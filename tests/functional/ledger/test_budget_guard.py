"""The budget step of the gate over each ledger backend: reserve -> call -> settle, and breakers that halt."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from agentcage.budget import BudgetConfig, BudgetGuard, ModelPrice
from agentcage.budget.limits import Usage
from agentcage.constants import (
    METRIC_BREAKER_TRIPS,
    METRIC_COST_MICRO_USD,
    METRIC_DIMENSION_REASON,
    METRIC_TOKENS_USED,
)
from agentcage.errors import (
    BudgetExceededError,
    ModelError,
    ModelRateLimitError,
    ModelTimeoutError,
    OverspendError,
    TransportError,
)
from agentcage.ledger import Ledger, ReservationStatus, TaskState
from tests.functional.ledger.ledger_support import FakeClock, new_task

PRICE = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
CONFIG = BudgetConfig(
    prices={"gpt-4o": PRICE}, min_useful_output_tokens=200, request_overhead_tokens=0, loop_threshold=4
)
REQUEST = {"messages": [{"role": "user", "content": "refund order O-1001 outside the return window"}]}


class RecordingMetrics:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, float, dict[str, str]]] = []

    def emit(self, name: str, unit: str, value: float, dimensions: Mapping[str, str]) -> None:
        self.recorded.append((name, unit, value, dict(dimensions)))


def test_model_call_reserves_the_bound_and_settles_the_actual_use(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a task and a request whose serialized form bounds its input tokens
    task = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)

    # WHEN a call runs through the guard and reports its usage
    with guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=800) as call:
        held = ledger.budget_state(task.task_id).reserved
        call.settle(input_tokens=20, output_tokens=150)

    # THEN the reservation covered bytes + max_tokens, and the ledger now holds exactly the priced use
    assert held == call.plan.reservation
    assert call.plan.input_tokens_bound == len(call_bytes(REQUEST))
    assert call.max_tokens == 800
    state = ledger.budget_state(task.task_id)
    assert state.used == Usage(tokens=170, cost_micro_usd=1550, model_steps=1)
    assert state.reserved.is_zero()


def call_bytes(request: object) -> bytes:
    from agentcage.budget.model_calls import serialize_request

    return serialize_request(request).encode()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "failure",
    [
        ModelTimeoutError("model did not answer in 30 s", details={"attempts": 1}),
        ModelError("the connection dropped", details={"attempts": 1, "retryable": True}),
        # a 429 at the end of retries: an earlier attempt may have timed out after the provider ran it
        ModelRateLimitError("429", details={"attempts": 3}),
        TransportError("the caller failed after the call"),
    ],
    ids=["timeout", "dropped", "429-after-retries", "not-a-model-error"],
)
def test_model_call_that_fails_after_it_was_sent_is_charged_its_upper_bound(
    ledger: Ledger, clock: FakeClock, failure: Exception
) -> None:
    # GIVEN a model call in progress
    task = new_task(ledger, clock)
    metrics = RecordingMetrics()
    guard = BudgetGuard(ledger, CONFIG, metrics=metrics)

    # WHEN it fails with something that does not prove the provider did nothing
    with (
        pytest.raises(type(failure)),
        guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=500) as call,
    ):
        raise failure

    # THEN it is charged its reservation (tokens, cost, one model step) and the audit says why
    reservation = ledger.get_reservation(call.reservation.reservation_id)
    assert reservation.status is ReservationStatus.SETTLED
    assert reservation.actual == call.plan.reservation
    state = ledger.budget_state(task.task_id)
    assert state.used == call.plan.reservation
    assert state.used.model_steps == 1
    assert state.reserved.is_zero()
    (charged,) = [e for e in ledger.audit(task.task_id) if e.kind == "model_call_charged"]
    assert charged.data["reason"] == "model call failed after it was sent; charged its upper bound"
    assert charged.data["error"] == getattr(failure, "code", type(failure).__name__)
    assert charged.data["amounts"] == call.plan.reservation.model_dump()
    assert (METRIC_TOKENS_USED, "Count", call.plan.reservation.tokens, {}) in metrics.recorded


@pytest.mark.parametrize(
    "failure",
    [
        ModelRateLimitError("429 Too Many Requests", details={"attempts": 1}),
        ModelTimeoutError("the task deadline leaves no time for a model call", details={"attempts": 0}),
    ],
    ids=["429-on-its-only-attempt", "never-sent"],
)
def test_model_call_the_provider_never_processed_releases_its_reservation(
    ledger: Ledger, clock: FakeClock, failure: ModelError
) -> None:
    task = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)

    with (
        pytest.raises(type(failure)),
        guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=500) as call,
    ):
        raise failure

    assert ledger.get_reservation(call.reservation.reservation_id).status is ReservationStatus.RELEASED
    state = ledger.budget_state(task.task_id)
    assert state.used.is_zero()
    assert state.reserved.is_zero()
    assert "model_call_released" in [e.kind for e in ledger.audit(task.task_id)]


def test_repeated_timeouts_use_up_the_budget_instead_of_spending_without_limit(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a task whose every model call times out (each may have been billed)
    task = new_task(ledger, clock, tokens=2_000)
    guard = BudgetGuard(ledger, CONFIG)
    timeouts = 0

    # WHEN the agent loop keeps retrying the step
    def timed_out_call() -> None:
        with guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=500):
            raise ModelTimeoutError("timed out", details={"attempts": 1})

    stopped_by: BaseException | None = None
    for _ in range(100):
        try:
            timed_out_call()
        except ModelTimeoutError:
            timeouts += 1
        except BudgetExceededError as error:
            stopped_by = error
            break

    # THEN the charges stopped it inside its budget, and the task halted saying so
    state = ledger.budget_state(task.task_id)
    assert isinstance(stopped_by, BudgetExceededError)
    assert timeouts >= 1
    assert state.used.tokens <= 2_000
    assert state.used.model_steps == timeouts
    assert ledger.get_task(task.task_id).state is TaskState.HALTED


def test_an_overspend_reaches_the_caller_and_nothing_is_released_or_charged_again(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a provider that reports more output than the max_tokens it was sent
    task = new_task(ledger, clock)
    metrics = RecordingMetrics()
    guard = BudgetGuard(ledger, CONFIG, metrics=metrics)

    # WHEN the call settles above its reservation inside the guarded block
    with (
        pytest.raises(OverspendError),
        guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=300) as call,
    ):
        call.settle(input_tokens=20, output_tokens=5_000)

    # THEN the caller saw the OverspendError (not a 409 from a second release), the spend is recorded
    # in full once, and the audit has the overspend but no charge on top of it
    assert call.settled is not None
    assert call.settled.status is ReservationStatus.SETTLED
    state = ledger.budget_state(task.task_id)
    assert state.used.tokens == 5_020
    assert state.used.model_steps == 1
    assert state.reserved.is_zero()
    kinds = [e.kind for e in ledger.audit(task.task_id)]
    assert kinds.count("overspend") == 1
    assert "model_call_charged" not in kinds
    assert [m for m in metrics.recorded if m[0] == METRIC_TOKENS_USED] == [
        (METRIC_TOKENS_USED, "Count", 5_020, {})
    ]


def test_a_settled_model_call_emits_its_tokens_and_cost(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    metrics = RecordingMetrics()
    guard = BudgetGuard(ledger, CONFIG, metrics=metrics)

    with guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=800) as call:
        call.settle(input_tokens=20, output_tokens=150)

    assert metrics.recorded == [
        (METRIC_TOKENS_USED, "Count", 170, {}),
        (METRIC_COST_MICRO_USD, "Count", 1550, {}),
    ]


def test_model_call_never_settled_is_charged_in_full(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)

    with guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=300) as call:
        pass

    assert ledger.budget_state(task.task_id).used == call.plan.reservation


def test_max_tokens_is_clamped_to_what_remains(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock, tokens=1000)
    guard = BudgetGuard(ledger, CONFIG)

    with guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=4096) as call:
        call.settle(input_tokens=20, output_tokens=10)

    assert call.max_tokens == 1000 - call.plan.input_tokens_bound


def test_call_that_no_longer_fits_halts_the_task_instead_of_calling(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a task with fewer tokens left than the request bound plus the minimum useful output
    task = new_task(ledger, clock, tokens=250)
    metrics = RecordingMetrics()
    guard = BudgetGuard(ledger, CONFIG, metrics=metrics)

    # WHEN the agent loop asks for another model call
    with (
        pytest.raises(BudgetExceededError) as raised,
        guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=800),
    ):
        pytest.fail("the model must not be called")

    # THEN the breaker tripped: halted with a readable reason, an audit event, a metric, nothing reserved
    assert raised.value.details["limit"] == "tokens"
    halted = ledger.get_task(task.task_id)
    assert halted.state is TaskState.HALTED
    assert halted.halt_reason is not None
    assert halted.halt_reason.startswith("budget_exceeded: only")
    assert "breaker_tripped" in [e.kind for e in ledger.audit(task.task_id)]
    assert metrics.recorded == [
        (METRIC_BREAKER_TRIPS, "Count", 1, {METRIC_DIMENSION_REASON: "budget_exceeded"})
    ]
    assert ledger.budget_state(task.task_id).reserved.is_zero()


def test_a_ledger_outage_while_accounting_never_hides_the_models_error(
    ledger: Ledger, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentcage.errors import LedgerUnavailableError

    task = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)

    def unavailable(*_: object) -> None:
        raise LedgerUnavailableError("the ledger did not answer")

    def timed_out_while_the_ledger_is_down() -> str:
        with guard.model_call(
            task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=500
        ) as call:
            monkeypatch.setattr(ledger, "settle", unavailable)
            reservations.append(call.reservation.reservation_id)
            raise ModelTimeoutError("timed out", details={"attempts": 1})

    reservations: list[str] = []
    with pytest.raises(ModelTimeoutError):
        timed_out_while_the_ledger_is_down()

    # the reservation is still held (the sweep returns it), never silently dropped
    assert ledger.get_reservation(reservations[0]).status is ReservationStatus.ACTIVE
