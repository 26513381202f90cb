"""The one model-retry loop: its rules, and that the provider and the coordinator both retry in it."""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.errors import ModelError, ModelRateLimitError, ModelTimeoutError
from agentcage.models import base as models_base
from agentcage.models.retry import RetryPolicy, retry_model_call
from tests.unit.coordinator.test_coordinator_model_retries import REFUND, FlakyModel, _coordinator

NO_JITTER = RetryPolicy(max_attempts=3, base_delay_s=1.0, max_delay_s=8.0, jitter=False)


class Attempts:
    """Fails with the given errors, then answers ``"ok"``; records the attempt numbers it was given."""

    def __init__(self, *errors: ModelError) -> None:
        self.errors = list(errors)
        self.numbers: list[int] = []

    def __call__(self, number: int) -> str:
        self.numbers.append(number)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _run(attempts: Attempts, *, deadline: float | None = None, now: float = 0.0) -> tuple[Any, list[Any]]:
    sleeps: list[float] = []
    failures: list[tuple[str, int, float | None]] = []
    result = retry_model_call(
        attempts,
        policy=NO_JITTER,
        deadline=deadline,
        clock=lambda: now,
        sleep=sleeps.append,
        on_failure=lambda error, number, delay: failures.append((error.code, number, delay)),
    )
    return result, [sleeps, failures]


def test_retryable_failures_back_off_exponentially_until_an_attempt_succeeds() -> None:
    attempts = Attempts(ModelTimeoutError("slow"), ModelError("502", details={"retryable": True}))

    result, (sleeps, failures) = _run(attempts)

    assert result == ("ok", 3)
    assert attempts.numbers == [1, 2, 3]
    assert sleeps == [1.0, 2.0]
    assert [number for _, number, _ in failures] == [1, 2]


def test_a_failure_not_marked_retryable_is_raised_at_once() -> None:
    attempts = Attempts(ModelError("bad request", details={"retryable": False}))

    with pytest.raises(ModelError) as caught:
        _run(attempts)

    assert attempts.numbers == [1]
    assert caught.value.details["attempts"] == 1


def test_the_last_allowed_attempt_raises_and_the_observer_hears_it_is_the_last() -> None:
    attempts = Attempts(*(ModelRateLimitError("429") for _ in range(5)))
    failures: list[tuple[int, float | None]] = []

    with pytest.raises(ModelRateLimitError) as caught:
        retry_model_call(
            attempts,
            policy=NO_JITTER,
            deadline=None,
            clock=lambda: 0.0,
            sleep=lambda _: None,
            on_failure=lambda _, number, delay: failures.append((number, delay)),
        )

    assert caught.value.details["attempts"] == 3
    assert failures == [(1, 1.0), (2, 2.0), (3, None)]


def test_no_wait_reaches_past_the_deadline() -> None:
    attempts = Attempts(ModelTimeoutError("slow"))

    with pytest.raises(ModelTimeoutError):
        _run(attempts, deadline=100.5, now=100.0)  # the 1 s backoff would end after the deadline

    assert attempts.numbers == [1]


def test_a_retry_after_longer_than_the_backoff_is_honoured_up_to_the_cap() -> None:
    attempts = Attempts(ModelRateLimitError("429", details={"retry_after_s": 5}))

    _, (sleeps, _) = _run(attempts)

    assert sleeps == [5.0]


def test_the_provider_and_the_coordinator_retry_in_the_same_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a spy on the one loop, and a model whose first two attempts time out
    loops: list[int] = []
    real = models_base.retry_model_call

    def spy(*args: Any, **kwargs: Any) -> Any:
        loops.append(kwargs["policy"].max_attempts)
        return real(*args, **kwargs)

    monkeypatch.setattr(models_base, "retry_model_call", spy)
    model = FlakyModel([ModelTimeoutError("1"), ModelTimeoutError("2")])
    coordinator, _ = _coordinator(model, NO_JITTER)

    # WHEN the coordinator runs a step
    started = coordinator.start_task({"request": REFUND})
    coordinator.run_step(started.step)

    # THEN its retries ran in the loop with the provider's policy (3 attempts), and each provider
    # attempt inside it was one single-attempt pass of the same loop: no other loop retried
    assert loops == [3, 1, 1, 1]
    assert model.attempts == 3
    assert model.sleeps == [1.0, 2.0]
