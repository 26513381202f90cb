"""The one model-retry loop and its policy: what is retried, how long to wait, when to give up.

Every retry of a model call goes through :func:`retry_model_call`: the provider's own
(:meth:`ModelProvider.complete <agentcage.models.base.ModelProvider.complete>`, whose attempt is one
SDK call) and the coordinator's (whose attempt is one SDK call inside its own budget reservation).
The SDKs' own retries are switched off, so no other loop retries a model call. The rules:

- only retryable failures are retried: timeouts and rate limits always, other :class:`ModelError`\\ s
  when ``details["retryable"]`` says so (5xx, a dropped connection);
- at most :attr:`RetryPolicy.max_attempts` attempts, waiting a bounded exponential backoff between
  them (a provider's ``Retry-After`` honoured up to the cap);
- no wait that would end at or after the deadline (the task's): the last error is raised instead.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from agentcage.errors import InvalidInputError, ModelError, ModelRateLimitError, ModelTimeoutError

__all__ = ["AttemptFailed", "RetryPolicy", "is_retryable", "retry_delay", "retry_model_call"]

_log = logging.getLogger(__name__)

T = TypeVar("T")

AttemptFailed = Callable[[ModelError, int, float | None], None]
"""Told of each failed attempt: ``(error, attempt, delay)``; ``delay`` is ``None`` when it is the last."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff: attempt ``n`` (1-based) waits ``base_delay_s * 2**(n-1)``, capped.

    With ``jitter`` the wait is drawn uniformly from ``[delay / 2, delay]`` so that tasks rate-limited
    together do not retry together. A provider's ``Retry-After`` is honoured up to ``max_delay_s``.
    """

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInputError("RetryPolicy.max_attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise InvalidInputError("RetryPolicy delays must not be negative")

    def delay_after(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` before the next one."""
        delay = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        if self.jitter:
            # Not security relevant: spreads retries of concurrent tasks apart.
            delay = random.uniform(delay / 2, delay)  # noqa: S311
        if retry_after_s is not None and retry_after_s > delay:
            delay = min(self.max_delay_s, float(retry_after_s))
        return float(delay)


def is_retryable(error: ModelError) -> bool:
    """Whether another attempt may succeed: timeouts, rate limits, and failures marked retryable."""
    if isinstance(error, ModelTimeoutError | ModelRateLimitError):
        return True
    return bool(error.details.get("retryable", False))


def retry_delay(
    error: ModelError, attempt: int, policy: RetryPolicy, *, deadline: float | None, now: float
) -> float | None:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next; ``None``: give up."""
    if not is_retryable(error) or attempt >= policy.max_attempts:
        return None
    delay = policy.delay_after(attempt, error.details.get("retry_after_s"))
    if deadline is not None and now + delay >= deadline:
        _log.warning("not retrying %s: the task deadline is too close", error.code)
        return None
    return delay


def retry_model_call(
    attempt: Callable[[int], T],
    *,
    policy: RetryPolicy,
    deadline: float | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_failure: AttemptFailed | None = None,
) -> tuple[T, int]:
    """Call ``attempt(1)``, ``attempt(2)``, ... until one returns; answers its result and its number.

    An attempt that raises :class:`ModelError` is retried under the module's rules (``on_failure``
    hears of every failed attempt first); the error of the last attempt is raised with
    ``details["attempts"]``. Any other exception ends the loop at once.
    """
    number = 0
    while True:
        number += 1
        try:
            return attempt(number), number
        except ModelError as error:
            error.details["attempts"] = number
            delay = retry_delay(error, number, policy, deadline=deadline, now=clock())
            if on_failure is not None:
                on_failure(error, number, delay)
            if delay is None:
                raise
            _log.info("model attempt %d failed (%s), retrying in %.2fs", number, error.code, delay)
            sleep(delay)
