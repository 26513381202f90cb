"""Budget edge cases through the coordinator's agent loop, on the SQLite and DynamoDB ledgers (issue 12).

A model whose cost cannot be estimated is never called; a ledger that does not answer means no call and
a step that is delivered again, with nothing spent unrecorded; a call the ledger could not settle is
charged by the sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from agentcage.budget import ModelPrice
from agentcage.envelopes import AgentStep
from agentcage.errors import LedgerUnavailableError
from agentcage.ledger import Ledger, TaskState
from agentcage.models import ScriptedModel
from agentcage.models.base import ModelRequest
from agentcage.models.types import Completion
from functions.aws import ledger_sweeper
from functions.aws.ledger_sweeper import sweep
from tests.functional.coordinator.coordinator_support import (
    Driver,
    FakeClock,
    FakeExecutor,
    budget_config,
    make_coordinator,
)

LOOKUP = "Fetch customer C-1001 with their history."
CEILING = ModelPrice(input_usd_per_million=Decimal("15.00"), output_usd_per_million=Decimal("60.00"))


@pytest.fixture(autouse=True)
def _sweeper_metrics_flushed() -> Iterator[None]:
    """sweep() adds its count to the Lambda's metrics, which only its handler flushes: drop them."""
    yield
    ledger_sweeper.metrics.clear_metrics()


class CountingModel(ScriptedModel):
    """The scripted model under another name, counting the calls that reach it."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        if name is not None:
            self.model = name
        self.calls = 0

    def _complete_once(self, request: ModelRequest, timeout: float) -> Completion:
        self.calls += 1
        return super()._complete_once(request, timeout)


def _down(*_: Any, **__: Any) -> None:
    raise LedgerUnavailableError("the SQLite ledger did not answer: database is locked")


def test_a_model_nobody_priced_is_never_called_and_the_task_halts_saying_why(ledger: Ledger) -> None:
    # GIVEN a coordinator whose model has no price and no ceiling is configured
    model = CountingModel("vendor-model-2031")
    driver = Driver(make_coordinator(ledger, model=model), FakeExecutor(ledger))

    # WHEN a task starts
    task_id = driver.start(LOOKUP, context={"scenario": "hallucinate"})

    # THEN the model was never called, nothing was spent, and the task halted with the reason
    assert model.calls == 0
    task = ledger.get_task(task_id)
    assert task.state is TaskState.HALTED
    assert "'vendor-model-2031' cannot be estimated" in (task.halt_reason or "")
    assert ledger.budget_state(task_id).used.is_zero()
    [tripped] = [e.data for e in ledger.audit(task_id) if e.kind == "breaker_tripped"]
    assert tripped["details"]["reason"] == "price_unknown"


def test_a_price_ceiling_lets_an_unpriced_model_run_charged_at_the_ceiling(ledger: Ledger) -> None:
    # GIVEN the same model, and a ceiling on what any model may cost
    model = CountingModel("vendor-model-2031")
    driver = Driver(make_coordinator(ledger, model=model, price_ceiling=CEILING), FakeExecutor(ledger))

    # WHEN a task runs
    task_id = driver.start(LOOKUP, context={"scenario": "hallucinate"})

    # THEN it completed, every step said it was priced at the ceiling, and the spend is recorded
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    thoughts = [e.data for e in ledger.audit(task_id) if e.kind == "thought"]
    assert len(thoughts) == model.calls > 0
    assert all(t.get("priced_at") == "price_ceiling" for t in thoughts)
    used = ledger.budget_state(task_id).used
    assert used.cost_micro_usd > 0
    assert used.model_steps == model.calls


def test_a_ledger_that_does_not_answer_at_the_reservation_means_no_call_and_the_step_resumes(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a task whose first step runs while the ledger does not answer reservations
    model = CountingModel()
    coordinator = make_coordinator(ledger, model=model)
    started = coordinator.start_task({"request": LOOKUP, "context": {"scenario": "hallucinate"}})
    task_id = started.task.task_id
    monkeypatch.setattr(ledger, "reserve", _down)

    # WHEN the step is delivered THEN it fails (so the queue delivers it again), saying why
    with pytest.raises(LedgerUnavailableError, match="did not answer") as raised:
        coordinator.run_step(started.step)
    assert raised.value.code == "ledger_unavailable"

    # AND the model was not called, nothing was reserved or spent, and the task waits where it was
    monkeypatch.undo()
    assert model.calls == 0
    state = ledger.budget_state(task_id)
    assert state.used.is_zero()
    assert state.reserved.is_zero()
    assert ledger.get_task(task_id).state in (TaskState.PENDING, TaskState.RUNNING)

    # WHEN the ledger answers again and the step is delivered again THEN the task runs to its end
    driver = Driver(coordinator, FakeExecutor(ledger))
    driver.steps.append(started.step)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED


def test_a_call_the_ledger_could_not_settle_is_charged_by_the_sweep(
    ledger: Ledger, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a step whose model call answers, and a ledger that stops answering before it is settled
    model = CountingModel()
    coordinator = make_coordinator(ledger, model=model)
    started = coordinator.start_task({"request": LOOKUP, "context": {"scenario": "hallucinate"}})
    task_id = started.task.task_id
    settle = ledger.settle
    monkeypatch.setattr(ledger, "settle", _down)
    with pytest.raises(LedgerUnavailableError):
        coordinator.run_step(started.step)
    monkeypatch.setattr(ledger, "settle", settle)
    assert model.calls == 1
    held = ledger.budget_state(task_id).reserved
    assert held.model_steps == 1  # the call's upper bound, still held

    # WHEN the sweeper runs after the reservation's expiry
    clock.advance(budget_config().reservation_ttl_seconds + 1)
    assert sweep(ledger) == 1

    # THEN the call is recorded as spent at its upper bound, and nothing is held
    state = ledger.budget_state(task_id)
    assert state.used == held
    assert state.reserved.is_zero()
    # AND the step, delivered again, runs on what is left
    driver = Driver(coordinator, FakeExecutor(ledger))
    driver.steps.append(AgentStep.model_validate(started.step.model_dump()))
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
