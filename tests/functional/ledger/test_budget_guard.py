"""The budget step of the gate over each ledger backend: reserve -> call -> settle, and breakers that halt."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentcage.budget import BudgetConfig, BudgetGuard, ModelPrice
from agentcage.budget.limits import Usage
from agentcage.errors import BudgetExceededError, CircuitOpenError, LoopDetectedError, ModelTimeoutError
from agentcage.ledger import Ledger, ReservationStatus, TaskState
from tests.functional.ledger.ledger_support import FakeClock, new_task

PRICE = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
CONFIG = BudgetConfig(
    prices={"gpt-4o": PRICE}, min_useful_output_tokens=200, request_overhead_tokens=0, loop_threshold=4
)
REQUEST = {"messages": [{"role": "user", "content": "refund order O-1001 outside the return window"}]}


class RecordingMetrics:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, float]] = []

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.recorded.append((name, unit, value))


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


def test_model_call_that_fails_releases_its_reservation(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)

    with (
        pytest.raises(ModelTimeoutError),
        guard.model_call(task.task_id, model="gpt-4o", request=REQUEST, requested_max_tokens=500) as call,
    ):
        raise ModelTimeoutError("model did not answer in 30 s")

    assert ledger.get_reservation(call.reservation.reservation_id).status is ReservationStatus.RELEASED
    assert ledger.budget_state(task.task_id).used.is_zero()


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
    assert metrics.recorded == [("BudgetExceeded", "Count", 1)]
    assert ledger.budget_state(task.task_id).reserved.is_zero()


def test_identical_calls_are_a_loop_that_halts_the_task(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)
    for _ in range(CONFIG.loop_threshold - 1):
        admitted = guard.admit_tool_call(task.task_id, "getCustomer", "aa" * 32)
        guard.finish_tool_call(admitted.reservation, ok=True)

    with pytest.raises(LoopDetectedError):
        guard.admit_tool_call(task.task_id, "getCustomer", "aa" * 32)

    halted = ledger.get_task(task.task_id)
    assert halted.state is TaskState.HALTED
    assert halted.halt_reason is not None
    assert halted.halt_reason.startswith("loop_detected")
    assert ledger.budget_state(task.task_id).used.tool_calls == CONFIG.loop_threshold - 1


def test_failures_open_the_circuit_halt_the_task_and_cost_others_nothing(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a task whose calls to a vendor fail three times (different arguments: not a loop)
    first = new_task(ledger, clock)
    guard = BudgetGuard(ledger, CONFIG)
    statuses = []
    for attempt in range(3):
        admitted = guard.admit_tool_call(first.task_id, "negotiateVendorTerms", f"{attempt:064x}")
        statuses.append(guard.finish_tool_call(admitted.reservation, ok=False, detail=" (404, 503, 503)"))

    # THEN the third failure tripped the circuit and halted the task with a readable reason
    assert statuses[-1].tripped
    halted = ledger.get_task(first.task_id)
    assert halted.state is TaskState.HALTED
    assert halted.halt_reason is not None
    assert "negotiateVendorTerms failed 3 times in a row (404, 503, 503)" in halted.halt_reason

    # AND a second task is answered circuit_open at once, with no tool call reserved or spent
    second = new_task(ledger, clock)
    with pytest.raises(CircuitOpenError):
        guard.admit_tool_call(second.task_id, "negotiateVendorTerms", "ff" * 32)
    state = ledger.budget_state(second.task_id)
    assert state.used.is_zero()
    assert state.reserved.is_zero()
    assert ledger.get_task(second.task_id).state is TaskState.RUNNING


def test_tool_call_past_the_tool_call_limit_halts(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock, tool_calls=1)
    guard = BudgetGuard(ledger, CONFIG)
    guard.admit_tool_call(task.task_id, "getCustomer", "01" * 32)

    with pytest.raises(BudgetExceededError) as raised:
        guard.admit_tool_call(task.task_id, "getOrders", "02" * 32)

    assert raised.value.details["limit"] == "tool_calls"
    assert ledger.get_task(task.task_id).state is TaskState.HALTED
