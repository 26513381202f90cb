"""Amazon Bedrock through boto3's Converse API with tool use.

The neutral conversation maps onto Converse's alternating user/assistant turns: system messages go to
``system``, tool results become ``toolResult`` blocks of a user turn (consecutive results and user
messages merge into one turn, as Converse requires), and OpenAI-shaped tool schemas become
``toolSpec`` entries. The client is injected; the fallback one is built with botocore's own retries off
and the provider's timeout as its read timeout, so the retry loop of
:class:`~agentcage.models.base.ModelProvider` alone decides, inside the task's deadline. An injected
client's socket timeouts are its own configuration's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentcage.errors import ModelError, ModelRateLimitError, ModelTimeoutError
from agentcage.models.base import ModelProvider, ModelRequest, RetryPolicy
from agentcage.models.types import (
    AssistantMessage,
    Completion,
    FinishReason,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    Usage,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BedrockProvider", "to_bedrock_tools", "to_converse_messages"]

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_TRANSIENT = {"InternalServerException", "ServiceUnavailableException", "ModelNotReadyException"}


def to_bedrock_tools(tools: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """OpenAI-shaped function schemas as Converse ``toolSpec`` entries."""
    specs = []
    for tool in tools:
        function = tool["function"]
        spec: dict[str, Any] = {"name": function["name"], "inputSchema": {"json": function["parameters"]}}
        if function.get("description"):
            spec["description"] = function["description"]
        specs.append({"toolSpec": spec})
    return specs


def _tool_result_block(message: ToolResultMessage) -> dict[str, Any]:
    if isinstance(message.content, dict):
        content: list[dict[str, Any]] = [{"json": message.content}]
    else:
        content = [{"text": message.content_text() or "(empty)"}]
    return {
        "toolResult": {
            "toolUseId": message.tool_call_id,
            "content": content,
            "status": "error" if message.is_error else "success",
        }
    }


def to_converse_messages(messages: tuple[Message, ...]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """``(system, messages)`` for Converse: alternating turns, tool results inside user turns."""
    system: list[dict[str, str]] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        if isinstance(message, SystemMessage):
            system.append({"text": message.content})
        elif isinstance(message, AssistantMessage):
            blocks: list[dict[str, Any]] = [{"text": message.content}] if message.content else []
            blocks += [
                {"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}}
                for call in message.tool_calls
            ]
            add("assistant", blocks or [{"text": "(no output)"}])
        elif isinstance(message, ToolResultMessage):
            add("user", [_tool_result_block(message)])
        else:
            add("user", [{"text": message.content}])
    return system, turns


class BedrockProvider(ModelProvider):
    """A Bedrock model (``model_id``) through ``bedrock-runtime`` ``converse`` with tool use."""

    provider = "bedrock"

    def __init__(
        self,
        *,
        model_id: str,
        client: Any | None = None,
        region: str | None = None,
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
        super().__init__(model=model_id, timeout=timeout, retry=retry, **kwargs)
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "bedrock-runtime",
                region_name=region,
                config=Config(read_timeout=self.timeout, retries={"total_max_attempts": 1}),
            )
        self._client = client

    def _complete_once(self, request: ModelRequest, timeout: float) -> Completion:  # noqa: ARG002
        # boto3 has no per-call timeout: the client's read_timeout bounds an attempt (see the module doc).
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

        system, turns = to_converse_messages(request.messages)
        kwargs: dict[str, Any] = {
            "modelId": self.model,
            "messages": turns,
            "inferenceConfig": {"maxTokens": request.max_tokens},
        }
        if system:
            kwargs["system"] = system
        if request.tools:
            kwargs["toolConfig"] = {"tools": to_bedrock_tools(request.tools)}
        try:
            response = self._client.converse(**kwargs)
        except (ReadTimeoutError, ConnectTimeoutError) as error:
            raise ModelTimeoutError(f"bedrock model {self.model} timed out") from error
        except ClientError as error:
            raise _map_client_error(self.model, error) from error
        except BotoCoreError as error:
            raise ModelError(
                f"bedrock model {self.model} could not be reached: {error}", details={"retryable": True}
            ) from error
        return self._to_completion(response)

    def _to_completion(self, response: dict[str, Any]) -> Completion:
        content = response.get("output", {}).get("message", {}).get("content", [])
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in content:
            if "text" in block:
                texts.append(block["text"])
            elif "toolUse" in block:
                use = block["toolUse"]
                arguments = use.get("input")
                problem = None if isinstance(arguments, dict) else "the tool input is not a JSON object"
                calls.append(
                    ToolCall(
                        id=use["toolUseId"],
                        name=use["name"],
                        arguments=arguments if isinstance(arguments, dict) else {},
                        invalid_arguments=problem,
                    )
                )
        usage = response.get("usage", {})
        stop = response.get("stopReason", "")
        return Completion(
            tool_calls=tuple(calls),
            text="\n".join(texts) or None,
            usage=Usage(input_tokens=usage.get("inputTokens", 0), output_tokens=usage.get("outputTokens", 0)),
            model=self.model,
            provider=self.provider,
            finish_reason=_FINISH.get(stop, "tool_calls" if calls else "stop"),
        )


def _map_client_error(model: str, error: Any) -> ModelError:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _THROTTLED:
        return ModelRateLimitError(
            f"bedrock model {model} throttled the call: {message}", details={"status": status}
        )
    if code == "ModelTimeoutException":
        return ModelTimeoutError(f"bedrock model {model} timed out: {message}", details={"status": status})
    retryable = code in _TRANSIENT or (isinstance(status, int) and status >= 500)
    return ModelError(
        f"bedrock model {model} failed with {code}: {message}",
        details={"status": status, "code": code, "retryable": retryable},
    )
