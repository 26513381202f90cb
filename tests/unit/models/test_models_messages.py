"""The neutral conversation: parsing, tool schemas, and the Chat Completions / Converse forms."""

from __future__ import annotations

import pytest

from agentcage.errors import InvalidInputError
from agentcage.models import (
    AssistantMessage,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
    estimate_tokens,
    normalize_tools,
    parse_messages,
    to_bedrock_tools,
    to_converse_messages,
    to_openai_messages,
)


def test_messages_round_trip_through_json() -> None:
    conversation = [
        SystemMessage(content="s"),
        UserMessage(content="u"),
        AssistantMessage(
            tool_calls=(ToolCall(id="c1", name="getCustomer", arguments={"customer_id": "C-1"}),)
        ),
        ToolResultMessage(tool_call_id="c1", name="getCustomer", status="error", content={"code": "x"}),
    ]

    stored = [m.model_dump(mode="json") for m in conversation]

    assert parse_messages(stored) == conversation


@pytest.mark.parametrize(
    "raw",
    [
        [],
        [{"role": "robot", "content": "x"}],
        [{"role": "user"}],
        [{"role": "tool", "tool_call_id": "", "name": "t"}],
        [{"role": "user", "content": "x", "extra": 1}],
    ],
)
def test_malformed_conversations_are_invalid_input(raw: list[dict[str, object]]) -> None:
    with pytest.raises(InvalidInputError):
        parse_messages(raw)


@pytest.mark.parametrize(
    "tools",
    [
        [{"name": "x"}],
        [{"type": "function", "function": {}}],
        [{"type": "function", "function": {"name": "a", "parameters": "nope"}}],
        [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "a"}}],
    ],
)
def test_malformed_tool_schemas_are_invalid_input(tools: list[dict[str, object]]) -> None:
    with pytest.raises(InvalidInputError):
        normalize_tools(tools)


def test_tool_schema_defaults_and_bedrock_form() -> None:
    tools = normalize_tools([{"type": "function", "function": {"name": "listVolumes"}}])

    assert tools == [
        {
            "type": "function",
            "function": {
                "name": "listVolumes",
                "description": "",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    assert to_bedrock_tools(tuple(tools)) == [
        {"toolSpec": {"name": "listVolumes", "inputSchema": {"json": {"type": "object", "properties": {}}}}}
    ]


def test_openai_form_marks_plain_text_errors() -> None:
    messages = (ToolResultMessage(tool_call_id="c", name="t", status="circuit_open", content="vendor down"),)

    assert to_openai_messages(messages) == [
        {"role": "tool", "tool_call_id": "c", "content": '{"status": "circuit_open", "error": "vendor down"}'}
    ]


def test_converse_form_merges_consecutive_user_turns() -> None:
    messages = (
        UserMessage(content="a"),
        UserMessage(content="b"),
        AssistantMessage(),
        ToolResultMessage(tool_call_id="c", name="t", content=[1, 2]),
        UserMessage(content="and?"),
    )

    system, turns = to_converse_messages(messages)

    assert system == []
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[0]["content"] == [{"text": "a"}, {"text": "b"}]
    assert turns[1]["content"] == [{"text": "(no output)"}]
    assert turns[2]["content"][0]["toolResult"]["content"] == [{"text": "[1,2]"}]
    assert turns[2]["content"][1] == {"text": "and?"}


def test_token_estimate_is_bytes_over_four_and_never_zero() -> None:
    assert estimate_tokens(b"") == 1
    assert estimate_tokens(b"x" * 400) == 100
    assert estimate_tokens("é".encode() * 10) == 5
