"""The one model interface: :class:`ModelProvider` with its timeout, retry and deadline handling.

``complete`` is the public template method: it validates the conversation and tool schemas, then calls
the provider's ``_complete_once`` hook, retrying timeouts, rate limits and transient provider failures with
exponential backoff. The retries live inside an absolute ``deadline`` (the task's): no attempt starts, and
no backoff sleep is taken, that would end after it, and each attempt's timeout is clamped to what is
left, so retrying never outlives the task budget. The loop and its rules are :mod:`.retry`'s
(:meth:`ModelProvider.with_retries`), the one loop a caller that retries by itself uses too.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from agentcage.errors import InvalidInputError, ModelError, ModelTimeoutError
from agentcage.models.retry import AttemptFailed, RetryPolicy, retry_delay, retry_model_call
from agentcage.models.types import Completion, Message, normalize_tools, parse_messages

__all__ = ["ModelProvider", "ModelRequest", "RetryPolicy", "DEFAULT_TIMEOUT_S"]

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0
"""The per-attempt timeout when neither the call nor the provider names one."""


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One validated model call as the provider hooks receive it."""

    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...]
    max_tokens: int
    context: Mapping[str, Any] = field(default_factory=dict)


def _as_epoch(deadline: datetime | float | None) -> float | None:
    if deadline is None:
        return None
    if isinstance(deadline, datetime):
        if deadline.tzinfo is None:
            raise InvalidInputError("a deadline datetime must be timezone-aware")
        return deadline.timestamp()
    return float(deadline)


class ModelProvider(ABC):
    """A chat model that can call tools. Subclasses implement ``_complete_once`` for one attempt.

    ``_complete_once`` raises :class:`ModelTimeoutError` or :class:`ModelRateLimitError` (always retried),
    or :class:`ModelError` with ``details["retryable"]`` true for transient failures (5xx, a dropped
    connection) and false otherwise; ``details["retry_after_s"]`` passes on a provider's ``Retry-After``.
    """

    provider: str = "unknown"
    """The provider's name as thought records show it (``azure_openai``, ``openai``, ``bedrock``...)."""

    def __init__(
        self,
        *,
        model: str,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not model:
            raise InvalidInputError(f"{type(self).__name__} needs a model (or deployment) name")
        if timeout is not None and timeout <= 0:
            raise InvalidInputError("the model timeout must be positive")
        self.model = model
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT_S
        self.retry = retry if retry is not None else RetryPolicy()
        self._sleep = sleep
        self._clock = clock

    def complete(
        self,
        messages: Iterable[Message | Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        max_tokens: int,
        *,
        timeout: float | None = None,
        deadline: datetime | float | None = None,
        context: Mapping[str, Any] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Completion:
        """Ask the model for its next turn.

        ``tools`` are OpenAI-shaped function schemas; ``max_tokens`` bounds the output (callers clamp it to
        the budget). ``timeout`` bounds one attempt; ``deadline`` (epoch seconds or an aware datetime)
        bounds all attempts together. ``context`` is the task context (the scripted model reads
        ``context["scenario"]``; real providers ignore it). ``retry`` replaces the provider's policy for
        this call: a caller that budgets every attempt on its own (the coordinator) passes
        ``RetryPolicy(max_attempts=1)`` and retries in :meth:`with_retries`. Raises ModelTimeoutError,
        ModelRateLimitError or ModelError once retries are exhausted or the deadline leaves no room for
        another attempt.
        """
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise InvalidInputError(f"max_tokens must be a positive integer, not {max_tokens!r}")
        request = ModelRequest(
            messages=tuple(parse_messages(messages)),
            tools=tuple(normalize_tools(tools)),
            max_tokens=max_tokens,
            context=dict(context or {}),
        )
        per_attempt = timeout if timeout is not None else self.timeout
        if per_attempt <= 0:
            raise InvalidInputError("the model timeout must be positive")
        return self._with_retries(request, per_attempt, _as_epoch(deadline), retry or self.retry)

    def retry_delay(
        self,
        error: ModelError,
        attempt: int,
        *,
        deadline: datetime | float | None = None,
        retry: RetryPolicy | None = None,
    ) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next; ``None``: give up.

        :func:`agentcage.models.retry.retry_delay` with this provider's policy (unless ``retry``) and clock.
        """
        return retry_delay(
            error, attempt, retry or self.retry, deadline=_as_epoch(deadline), now=self._clock()
        )

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` between attempts (with the injected ``sleep``, so tests do not wait)."""
        self._sleep(seconds)

    def with_retries(
        self,
        attempt: Callable[[int], T],
        *,
        deadline: datetime | float | None = None,
        retry: RetryPolicy | None = None,
        on_failure: AttemptFailed | None = None,
    ) -> tuple[T, int]:
        """Run ``attempt(n)`` in the one retry loop (:func:`~agentcage.models.retry.retry_model_call`)
        with this provider's policy (unless ``retry``), clock and sleep; answers the result and the
        number of attempts it took."""
        return retry_model_call(
            attempt,
            policy=retry or self.retry,
            deadline=_as_epoch(deadline),
            clock=self._clock,
            sleep=self._sleep,
            on_failure=on_failure,
        )

    def _with_retries(
        self, request: ModelRequest, per_attempt: float, deadline: float | None, policy: RetryPolicy
    ) -> Completion:
        def once(_: int) -> Completion:
            timeout = per_attempt
            if deadline is not None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise ModelTimeoutError("the task deadline leaves no time for a model call")
                timeout = min(per_attempt, remaining)
            return self._complete_once(request, timeout)

        completion, attempts = self.with_retries(once, deadline=deadline, retry=policy)
        return completion.model_copy(update={"attempts": attempts}) if attempts > 1 else completion

    @abstractmethod
    def _complete_once(self, request: ModelRequest, timeout: float) -> Completion:
        """One attempt at the call, within ``timeout`` seconds; errors mapped as the class docstring says."""
