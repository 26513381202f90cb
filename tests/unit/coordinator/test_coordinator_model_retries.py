"""Every model attempt is budgeted: the coordinator retries, one provider attempt per reservation.

Before, the provider retried up to four times inside one reservation and only the last response was
settled, although a timed-out attempt may have been billed. Now a failed attempt is charged its upper
bound (a 429 is released: the provider did not process it), the backoff follows the provider's
policy and stops before the task's deadline, and a timeout that persists still reaches the queue.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from agentcage.budget.limits import Usage
from agentcage.coordinator import Coordinator
from agentcage.errors import ModelError, ModelRateLimitError, ModelTimeoutError
from agentcage.ledger import MemoryLedger, TaskState
from agentcage.models import ModelProvider, ScriptedModel
from agentcage.models.base import ModelRequest, RetryPolicy
from agentcage.models.scripted import SCRIPTED_MODEL_NAME
from agentcage.models.types import Completion
from tests.functional.coordinator.coordinator_support import FakeClock, budget_config, make_coordinator

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"


class FlakyModel(ModelProvider):
    """The scripted model, except that its first attempts raise the given errors."""

    provider = "scripted"

    def __init__(self, errors: list[ModelError], *, now: float | None = None) -> None:
        if now is None:
            super().__init__(model=SCRIPTED_MODEL_NAME)
        else:
            super().__init__(model=SCRIPTED_MODEL_NAME, clock=lambda: now)
        self.inner = ScriptedModel()
        self.errors = errors
        self.attempts = 0
        self.sleeps: list[float] = []
        self._sleep = self.sleeps.append

    def _complete_once(self, request: ModelRequest, timeout: float) -> Completion:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.inner._complete_once(request, timeout)


def _coordinator(model: FlakyModel, policy: RetryPolicy) -> tuple[Coordinator, MemoryLedger]:
    ledger = MemoryLedger(breaker=budget_config().breaker, clock=FakeClock())
    coordinator = make_coordinator(ledger, model=model)
    model.retry = policy  # make_coordinator turns retries off; production keeps the default 4 attempts
    return coordinator, ledger


def _first_step_used(model: FlakyModel, policy: RetryPolicy) -> tuple[Usage, MemoryLedger, str]:
    coordinator, ledger = _coordinator(model, policy)
    started = coordinator.start_task({"request": REFUND})
    coordinator.run_step(started.step)
    return ledger.budget_state(started.task.task_id).used, ledger, started.task.task_id


def _timeouts(n: int) -> list[ModelError]:
    return [ModelTimeoutError(f"attempt {i + 1} timed out") for i in range(n)]


def test_three_timeouts_then_a_success_charge_three_upper_bounds_and_the_success() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.5, jitter=False)
    baseline, _, _ = _first_step_used(FlakyModel([]), policy)

    model = FlakyModel(_timeouts(3))
    used, ledger, task_id = _first_step_used(model, policy)

    charged = [e.data["amounts"] for e in ledger.audit(task_id) if e.kind == "model_call_charged"]
    assert len(charged) == 3
    assert used.tokens == baseline.tokens + sum(a["tokens"] for a in charged)
    assert used.cost_micro_usd == baseline.cost_micro_usd + sum(a["cost_micro_usd"] for a in charged)
    assert used.model_steps == baseline.model_steps + 3
    assert model.attempts == 4
    assert model.sleeps == [0.5, 1.0, 2.0]  # the provider's backoff, waited between attempts
    [thought] = [e for e in ledger.audit(task_id) if e.kind == "thought"]
    assert thought.data["attempts"] == 4
    errors = [e.data for e in ledger.audit(task_id) if e.kind == "model_error"]
    assert [(e["attempt"], e["retry_in_s"]) for e in errors] == [(1, 0.5), (2, 1.0), (3, 2.0)]
    reserved = ledger.budget_state(task_id).reserved  # only the dispatched tool calls are still held
    assert (reserved.tokens, reserved.model_steps) == (0, 0)


def test_a_timeout_that_persists_is_raised_after_every_attempt_was_charged() -> None:
    model = FlakyModel(_timeouts(4))
    coordinator, ledger = _coordinator(model, RetryPolicy(max_attempts=4, base_delay_s=0, jitter=False))
    started = coordinator.start_task({"request": REFUND})

    with pytest.raises(ModelTimeoutError) as caught:
        coordinator.run_step(started.step)  # the queue redelivers the step

    task_id = started.task.task_id
    assert caught.value.details["attempts"] == 4
    assert model.attempts == 4
    assert ledger.budget_state(task_id).used.model_steps == 4
    assert ledger.budget_state(task_id).reserved == Usage()
    assert coordinator.task(task_id).state is TaskState.RUNNING
    assert [e.data["retry_in_s"] for e in ledger.audit(task_id) if e.kind == "model_error"][-1] is None


def test_a_rate_limited_attempt_is_released_and_the_retry_charged_once() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay_s=0, jitter=False)
    baseline, _, _ = _first_step_used(FlakyModel([]), policy)

    model = FlakyModel([ModelRateLimitError("429", details={"retry_after_s": 1.5})])
    used, ledger, task_id = _first_step_used(model, policy)

    assert used == baseline  # the 429 cost nothing
    assert [e.kind for e in ledger.audit(task_id)].count("model_call_released") == 1
    assert model.sleeps == [1.5]  # Retry-After honoured


def test_repeated_timeouts_use_up_the_budget_and_halt_the_task() -> None:
    model = FlakyModel(_timeouts(10))
    coordinator, ledger = _coordinator(model, RetryPolicy(max_attempts=10, base_delay_s=0, jitter=False))
    started = coordinator.start_task({"request": REFUND, "budget": {"model_steps": 3}})

    coordinator.run_step(started.step)  # no error: the budget, not the retries, ended it

    task = coordinator.task(started.task.task_id)
    assert model.attempts == 3
    assert task.state is TaskState.HALTED
    assert "model step" in (task.halt_reason or "")
    assert ledger.budget_state(task.task_id).used.model_steps == 3  # each timed-out attempt counted


def test_no_retry_waits_past_the_task_deadline() -> None:
    # GIVEN the provider's clock half a second before the task's deadline, and a 1 s backoff
    ledger = MemoryLedger(breaker=budget_config().breaker, clock=FakeClock())
    started = make_coordinator(ledger).start_task({"request": REFUND})
    deadline: datetime = started.task.limits.deadline
    model = FlakyModel(_timeouts(1), now=deadline.timestamp() - 0.5)
    coordinator = make_coordinator(ledger, model=model)
    model.retry = RetryPolicy(max_attempts=4, base_delay_s=1.0, jitter=False)

    # WHEN the only attempt that fits times out
    with pytest.raises(ModelTimeoutError):
        coordinator.run_step(started.step)

    # THEN nothing was waited for nor tried again
    assert (model.attempts, model.sleeps) == (1, [])
