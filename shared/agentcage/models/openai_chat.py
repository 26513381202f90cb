"""Chat Completions through the ``openai`` SDK: the shared mapping, and any OpenAI-compatible endpoint.

:class:`ChatCompletionsProvider` maps the neutral conversation onto the Chat Completions API, the response
back onto a :class:`Completion` (usage from the response), and the SDK's errors onto agentcage's. The SDK's
own retries are switched off (``max_retries=0``) so that the one retry loop in
:class:`~agentcage.models.base.ModelProvider` decides, inside the task's deadline.
:class:`OpenAICompatibleProvider` points it at any ``base_url`` (Ollama, vLLM, LiteLLM).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from agentcage.errors import InvalidInputError, ModelError, ModelRateLimitError, ModelTimeoutError
from agentcage.models.base import ModelProvider, ModelRequest, RetryPolicy
from agentcage.models.types import (
    AssistantMessage,
    Completion,
    FinishReason,
    Message,
    ToolCall,
    ToolResultMessage,
    Usage,
    estimate_tokens,
    serialize_for_estimate,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import openai

__all__ = [
    "ChatCompletionsProvider",
    "OpenAICompatibleProvider",
    "LOCAL_PLACEHOLDER_API_KEY",
    "to_openai_messages",
]

LOCAL_PLACEHOLDER_API_KEY = "not-a-secret-local-endpoint"
"""Sent as the bearer value to local servers (Ollama, vLLM) that ignore it; the SDK insists on one."""

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


def to_openai_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """The neutral conversation in Chat Completions form."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, AssistantMessage):
            entry: dict[str, Any] = {"role": "assistant", "content": message.content}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": json.dumps(call.arguments, sort_keys=True),
                        },
                    }
                    for call in message.tool_calls
                ]
            out.append(entry)
        elif isinstance(message, ToolResultMessage):
            content = message.content_text()
            if message.is_error and not content.startswith("{"):
                content = json.dumps({"status": message.status, "error": content})
            out.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": content})
        else:
            out.append({"role": message.role, "content": message.content})
    return out


def _parse_arguments(raw: object) -> tuple[dict[str, Any], str | None]:
    if isinstance(raw, dict):
        return raw, None
    if not isinstance(raw, str) or not raw.strip():
        return {}, None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        return {}, f"the arguments are not valid JSON ({error.msg} at position {error.pos})"
    if not isinstance(parsed, dict):
        return {}, f"the arguments must be a JSON object, not {type(parsed).__name__}"
    return parsed, None


def _retry_after(error: openai.APIStatusError) -> float | None:
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue  # an HTTP-date Retry-After: fall back to our own backoff
    return None


class ChatCompletionsProvider(ModelProvider):
    """A provider speaking the Chat Completions API through an ``openai`` SDK client (injected)."""

    provider = "openai"

    def __init__(
        self,
        client: openai.OpenAI,
        *,
        model: str,
        max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        if clock is not None:
            kwargs["clock"] = clock
        super().__init__(model=model, timeout=timeout, retry=retry, **kwargs)
        if max_tokens_param not in ("max_tokens", "max_completion_tokens"):
            raise InvalidInputError(f"unknown max_tokens_param {max_tokens_param!r}")
        # Our loop retries inside the task deadline; the SDK's retries would not know about it.
        self._client = client.with_options(max_retries=0)
        self._max_tokens_param = max_tokens_param

    def _complete_once(self, request: ModelRequest, timeout: float) -> Completion:
        import openai

        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(request.messages),
            self._max_tokens_param: request.max_tokens,
            "timeout": timeout,
        }
        if request.tools:
            kwargs["tools"] = list(request.tools)
        try:
            response = self._client.chat.completions.create(**kwargs)
        except openai.APITimeoutError as error:
            raise ModelTimeoutError(
                f"{self.provider} model {self.model} timed out after {timeout:.1f}s"
            ) from error
        except openai.RateLimitError as error:
            raise ModelRateLimitError(
                f"{self.provider} model {self.model} rate-limited the call",
                details={"status": 429, "retry_after_s": _retry_after(error)},
            ) from error
        except openai.APIStatusError as error:
            status = error.status_code
            raise ModelError(
                f"{self.provider} model {self.model} answered HTTP {status}: {_short(error.message)}",
                details={"status": status, "retryable": status >= 500 or status == 408},
            ) from error
        except openai.APIConnectionError as error:
            raise ModelError(
                f"{self.provider} model {self.model} could not be reached: {_short(str(error))}",
                details={"retryable": True},
            ) from error
        except openai.OpenAIError as error:
            raise ModelError(
                f"{self.provider} model {self.model} failed: {_short(str(error))}",
                details={"retryable": False},
            ) from error
        return self._to_completion(request, response)

    def _to_completion(self, request: ModelRequest, response: Any) -> Completion:
        if not response.choices:
            raise ModelError(
                f"{self.provider} model {self.model} returned no choices", details={"retryable": True}
            )
        choice = response.choices[0]
        message = choice.message
        calls = []
        for call in message.tool_calls or ():
            function = getattr(call, "function", None)
            if function is None:
                continue  # a custom (non-function) tool call; we offer only functions
            arguments, problem = _parse_arguments(function.arguments)
            calls.append(
                ToolCall(id=call.id, name=function.name, arguments=arguments, invalid_arguments=problem)
            )
        text = message.content or None
        finish = _FINISH.get(choice.finish_reason or "", "tool_calls" if calls else "stop")
        if response.usage is not None:
            usage = Usage(
                input_tokens=response.usage.prompt_tokens, output_tokens=response.usage.completion_tokens
            )
        else:
            # Some compatible servers omit usage; settle on an honest, flagged estimate.
            usage = Usage(
                input_tokens=estimate_tokens(serialize_for_estimate([*request.messages, *request.tools])),
                output_tokens=estimate_tokens(serialize_for_estimate({"text": text, "tool_calls": calls})),
                estimated=True,
            )
        return Completion(
            tool_calls=tuple(calls),
            text=text,
            usage=usage,
            model=getattr(response, "model", None) or self.model,
            provider=self.provider,
            finish_reason=finish,
        )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OpenAICompatibleProvider(ChatCompletionsProvider):
    """Any OpenAI-compatible Chat Completions endpoint by ``base_url`` (Ollama, vLLM, LiteLLM, OpenAI).

    ``api_key`` is only for endpoints that check one (pass it explicitly from a secret store); local
    servers get a placeholder they ignore. No key is read from configuration.
    """

    provider = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        client: openai.OpenAI | None = None,
        max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if client is None:
            if not base_url:
                raise InvalidInputError("OpenAICompatibleProvider needs a base_url")
            import openai

            client = openai.OpenAI(
                base_url=base_url, api_key=api_key or LOCAL_PLACEHOLDER_API_KEY, max_retries=0
            )
        self.base_url = base_url
        super().__init__(
            client,
            model=model,
            max_tokens_param=max_tokens_param,
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            clock=clock,
        )
