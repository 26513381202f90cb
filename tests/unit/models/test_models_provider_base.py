"""The ModelProvider template: validation, bounded retries with backoff, and the task deadline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentcage.errors import InvalidInputError, ModelError, ModelRateLimitError, ModelTimeoutError
from agentcage.models import Completion, ModelProvider, ModelRequest, RetryPolicy, Usage, UserMessage

OK = Completion(
    text="fine",
    usage=Usage(input_tokens=3, output_tokens=1),
    model="m",
    provider="test",
    finish_reason="stop",
)


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    sleeps: list[float]


class Flaky(ModelProvider):
    """Raises the queued errors in order, then answers OK; records each attempt's timeout."""

    provider = "test"

    def __init__(self, errors: list[ModelError], clock: FakeClock, **kwargs: object) -> None:
        clock.sleeps = []
        super().__init__(model="m", sleep=clock.sleep, clock=clock, **kwargs)  # type: ignore[arg-type]
        self.errors = list(errors)
        self.timeouts: list[float] = []
        self.clock = clock

    def _complete_once(self, request: ModelRequest, timeout: float) -> Completion:
        self.timeouts.append(timeout)
        self.clock.now += 0.1
        if self.errors:
            raise self.errors.pop(0)
        return OK


MESSAGES = [UserMessage(content="hi")]


def test_transient_errors_are_retried_with_exponential_backoff() -> None:
    clock = FakeClock()
    errors: list[ModelError] = [
        ModelTimeoutError("t"),
        ModelError("503", details={"retryable": True}),
        ModelRateLimitError("429"),
    ]
    provider = Flaky(errors, clock, retry=RetryPolicy(max_attempts=4, base_delay_s=0.5, jitter=False))

    completion = provider.complete(MESSAGES, None, 10)

    assert completion.attempts == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_non_retryable_error_is_raised_at_once() -> None:
    clock = FakeClock()
    provider = Flaky([ModelError("bad request", details={"retryable": False})], clock)

    with pytest.raises(ModelError, match="bad request") as caught:
        provider.complete(MESSAGES, None, 10)

    assert caught.value.details["attempts"] == 1
    assert clock.sleeps == []


def test_attempts_are_bounded() -> None:
    clock = FakeClock()
    provider = Flaky([ModelTimeoutError("t")] * 10, clock, retry=RetryPolicy(max_attempts=3, jitter=False))

    with pytest.raises(ModelTimeoutError) as caught:
        provider.complete(MESSAGES, None, 10)

    assert caught.value.details["attempts"] == 3
    assert len(provider.timeouts) == 3


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    clock = FakeClock()
    errors: list[ModelError] = [
        ModelRateLimitError("429", details={"retry_after_s": 3.0}),
        ModelRateLimitError("429", details={"retry_after_s": 600.0}),
    ]
    provider = Flaky(errors, clock, retry=RetryPolicy(max_delay_s=8.0, jitter=False))

    provider.complete(MESSAGES, None, 10)

    assert clock.sleeps == [3.0, 8.0]


def test_attempt_timeout_is_clamped_to_the_deadline() -> None:
    clock = FakeClock(now=1_000.0)
    provider = Flaky([], clock, timeout=30.0)

    provider.complete(MESSAGES, None, 10, deadline=1_004.0)

    assert provider.timeouts == [pytest.approx(4.0)]


def test_no_backoff_sleep_passes_the_deadline() -> None:
    # GIVEN a deadline one second away and a backoff of two seconds
    clock = FakeClock(now=1_000.0)
    provider = Flaky([ModelTimeoutError("t")] * 5, clock, retry=RetryPolicy(base_delay_s=2.0, jitter=False))

    # WHEN the first attempt fails
    with pytest.raises(ModelTimeoutError):
        provider.complete(MESSAGES, None, 10, deadline=datetime.fromtimestamp(1_001.0, tz=UTC))

    # THEN it does not sleep past the deadline to try again
    assert clock.sleeps == []
    assert len(provider.timeouts) == 1


def test_a_passed_deadline_makes_no_call() -> None:
    clock = FakeClock(now=1_000.0)
    provider = Flaky([], clock)

    with pytest.raises(ModelTimeoutError, match="deadline"):
        provider.complete(MESSAGES, None, 10, deadline=999.0)

    assert provider.timeouts == []


def test_jittered_delay_stays_within_half_to_full() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=100.0, jitter=True)

    delays = [policy.delay_after(3) for _ in range(50)]

    assert all(2.0 <= d <= 4.0 for d in delays)


@pytest.mark.parametrize("max_tokens", [0, -5, 1.5, True, "10"])
def test_invalid_max_tokens_is_rejected(max_tokens: object) -> None:
    with pytest.raises(InvalidInputError, match="max_tokens"):
        Flaky([], FakeClock()).complete(MESSAGES, None, max_tokens)  # type: ignore[arg-type]


def test_naive_deadline_and_bad_policy_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        Flaky([], FakeClock()).complete(MESSAGES, None, 10, deadline=datetime(2030, 1, 1))  # noqa: DTZ001
    with pytest.raises(InvalidInputError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidInputError):
        Flaky([], FakeClock(), timeout=0)
