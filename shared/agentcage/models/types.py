"""The provider-neutral conversation, tool schemas and completion every model provider speaks.

Messages are pydantic models with a ``role`` discriminator, so a checkpoint can store a conversation as
JSON and :func:`parse_messages` turns it back into the same objects. Tool schemas in the neutral form are
the OpenAI function-calling shape (``{"type": "function", "function": {name, description,
parameters}}``); providers that need another shape (Bedrock Converse) convert them themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError

from agentcage.errors import InvalidInputError

__all__ = [
    "SystemMessage",
    "UserMessage",
    "AssistantMessage",
    "ToolResultMessage",
    "Message",
    "ToolCall",
    "Usage",
    "Completion",
    "FinishReason",
    "ToolResultStatus",
    "parse_messages",
    "normalize_tools",
    "serialize_for_estimate",
    "estimate_tokens",
]

FinishReason = Literal["stop", "tool_calls", "length", "content_filter"]
"""Why the model stopped, normalised across providers."""

ToolResultStatus = Literal["ok", "error", "denied", "circuit_open"]
"""The status of a tool result as the model is told it (the ``ToolResult`` envelope's statuses)."""

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ToolCall(BaseModel):
    """One tool call the model proposes.

    ``arguments`` is always a JSON object. When the model produced arguments that are not a JSON object
    (broken JSON, a list), ``arguments`` is empty and ``invalid_arguments`` says why, so the gate can hand
    the model a structured error instead of guessing.
    """

    model_config = _FROZEN

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)
    invalid_arguments: str | None = None


class SystemMessage(BaseModel):
    """Instructions for the model."""

    model_config = _FROZEN

    role: Literal["system"] = "system"
    content: str


class UserMessage(BaseModel):
    """What the person asked."""

    model_config = _FROZEN

    role: Literal["user"] = "user"
    content: str


class AssistantMessage(BaseModel):
    """A previous model turn: its text and the tool calls it made."""

    model_config = _FROZEN

    role: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


class ToolResultMessage(BaseModel):
    """The result of one tool call, as fed back to the model (a result, an error or a denial)."""

    model_config = _FROZEN

    role: Literal["tool"] = "tool"
    tool_call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    status: ToolResultStatus = "ok"
    content: JsonValue = None

    @property
    def is_error(self) -> bool:
        """True for an error, a denial or an open circuit."""
        return self.status != "ok"

    def content_text(self) -> str:
        """The content as the text a chat API expects (JSON for anything but a string)."""
        if isinstance(self.content, str):
            return self.content
        return json.dumps(self.content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolResultMessage, Field(discriminator="role")
]
"""Any message of a conversation."""

_MESSAGES: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


class Usage(BaseModel):
    """Tokens a call used; ``estimated`` is true when the provider did not report them."""

    model_config = _FROZEN

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class Completion(BaseModel):
    """What one model call produced: tool calls and/or text, usage, and who produced it."""

    model_config = _FROZEN

    tool_calls: tuple[ToolCall, ...] = ()
    text: str | None = None
    usage: Usage
    model: str
    provider: str
    finish_reason: FinishReason
    scripted: bool = False
    attempts: int = Field(default=1, ge=1)


def parse_messages(raw: Iterable[Message | Mapping[str, Any]]) -> list[Message]:
    """Typed messages from message objects or their JSON form; raises InvalidInputError when malformed."""
    items = [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in raw]
    try:
        messages = _MESSAGES.validate_python(items)
    except ValidationError as error:
        raise InvalidInputError(
            "the conversation is malformed",
            details={"problems": [f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]},
        ) from error
    if not messages:
        raise InvalidInputError("the conversation is empty")
    return messages


def normalize_tools(tools: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Check OpenAI-shaped tool schemas and return them as plain dicts (names must be unique)."""
    normalized: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, tool in enumerate(tools or ()):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type") != "function" or not isinstance(name, str):
            raise InvalidInputError(
                f"tool #{index} is not an OpenAI function schema "
                '({"type": "function", "function": {"name", "description", "parameters"}})'
            )
        if name in seen:
            raise InvalidInputError(f"tool {name!r} is offered twice")
        seen.add(name)
        parameters = function.get("parameters", {"type": "object", "properties": {}})  # type: ignore[union-attr]
        if not isinstance(parameters, Mapping):
            raise InvalidInputError(f"tool {name!r}: parameters must be a JSON schema object")
        normalized.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": str(function.get("description") or ""),  # type: ignore[union-attr]
                    "parameters": dict(parameters),
                },
            }
        )
    return normalized


def serialize_for_estimate(value: Any) -> bytes:
    """Canonical UTF-8 JSON of messages/tools/output, the basis of token estimates."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list | tuple):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def estimate_tokens(payload: bytes) -> int:
    """An estimate of tokens: UTF-8 bytes // 4 (English-like text averages about four bytes per token).

    It is an estimate, not a tokenizer; providers report exact usage and that is what gets settled.
    """
    return max(1, len(payload) // 4)
