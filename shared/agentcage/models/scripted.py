"""The scripted offline model: plays the demo scenarios deterministically and says that it does.

It is a :class:`~agentcage.models.base.ModelProvider` like the others, so the agent loop, the budget and the
thought records treat it the same way; its completions name provider ``scripted``, model
``agentcage-scripted-offline``, carry ``scripted=True``, and every text starts with
:data:`~agentcage.models.scenarios.MARKER`.

Usage is an estimate (UTF-8 bytes // 4 of the serialized conversation and output; see
:func:`~agentcage.models.types.estimate_tokens`), flagged ``estimated``. Output never exceeds
``max_tokens``: a turn that would is cut to fit, without its tool calls, with finish reason ``length``,
as a real model's truncated turn would be.
"""

from __future__ import annotations

import json
from typing import Any

from agentcage.errors import ConfigurationError, ModelError
from agentcage.models.base import ModelProvider, ModelRequest, RetryPolicy
from agentcage.models.scenarios import MARKER, SCENARIOS, Conversation, Turn, choose_scenario
from agentcage.models.types import (
    AssistantMessage,
    Completion,
    ToolCall,
    ToolResultMessage,
    Usage,
    estimate_tokens,
    serialize_for_estimate,
)

__all__ = ["ScriptedModel", "SCRIPTED_MODEL_NAME"]

SCRIPTED_MODEL_NAME = "agentcage-scripted-offline"


class ScriptedModel(ModelProvider):
    """A deterministic offline model for the local runtime, the demo and tests.

    The scenario is ``context["scenario"]`` when the task names one, else the ``scenario`` given here,
    else the first scenario whose keywords the request contains, else ``generic`` (which answers in text).
    """

    provider = "scripted"

    def __init__(self, *, scenario: str | None = None) -> None:
        super().__init__(model=SCRIPTED_MODEL_NAME, retry=RetryPolicy(max_attempts=1))
        if scenario is not None and scenario not in SCENARIOS:
            raise ConfigurationError(f"unknown scripted scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        self.scenario = scenario

    def _complete_once(self, request: ModelRequest, timeout: float) -> Completion:  # noqa: ARG002 - answers at once
        conversation = Conversation(request.messages)
        self._check_results_present(request)
        requested = request.context.get("scenario") or self.scenario
        name = choose_scenario(conversation, str(requested) if requested else None)
        scenario = SCENARIOS.get(name)
        if scenario is None:
            raise ModelError(
                f"unknown scripted scenario {name!r}; known: {', '.join(SCENARIOS)}",
                details={"retryable": False},
            )
        turn = scenario(conversation)
        offered = {tool["function"]["name"] for tool in request.tools}
        missing = [tool for tool, _ in turn.calls if tool not in offered]
        if missing:
            turn = Turn(
                text=f"I would call {', '.join(missing)} next; my toolset does not offer it, so I stop here.",
                final=True,
            )
        return self._render(request, name, turn)

    @staticmethod
    def _check_results_present(request: ModelRequest) -> None:
        # Chat APIs reject a conversation whose tool calls lack results; so does this model.
        answered = {m.tool_call_id for m in request.messages if isinstance(m, ToolResultMessage)}
        for message in request.messages:
            if isinstance(message, AssistantMessage):
                for call in message.tool_calls:
                    if call.id not in answered:
                        raise ModelError(
                            f"tool call {call.id} ({call.name}) has no result in the conversation",
                            details={"retryable": False},
                        )

    def _render(self, request: ModelRequest, scenario: str, turn: Turn) -> Completion:
        turn_number = sum(isinstance(m, AssistantMessage) for m in request.messages) + 1
        text = f"{MARKER} ({scenario}) {turn.text}"
        calls = tuple(
            ToolCall(id=f"call_{turn_number}_{index}", name=tool, arguments=arguments)
            for index, (tool, arguments) in enumerate(turn.calls, start=1)
        )
        input_tokens = estimate_tokens(serialize_for_estimate([*request.messages, *request.tools]))
        output_tokens = estimate_tokens(serialize_for_estimate({"text": text, "tool_calls": list(calls)}))
        finish: Any = "tool_calls" if calls else "stop"
        if output_tokens > request.max_tokens:
            # Cut honestly: the tool calls cannot be half-made, so only a prefix of the turn remains.
            full = text + (
                "\n" + json.dumps([c.model_dump() for c in calls], sort_keys=True) if calls else ""
            )
            text = full.encode()[: request.max_tokens * 4].decode("utf-8", "ignore")
            calls, finish = (), "length"
            output_tokens = min(request.max_tokens, estimate_tokens(text.encode()))
        return Completion(
            tool_calls=calls,
            text=text,
            usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens, estimated=True),
            model=SCRIPTED_MODEL_NAME,
            provider=self.provider,
            finish_reason=finish,
            scripted=True,
        )
