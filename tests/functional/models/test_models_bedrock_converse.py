"""Bedrock Converse with tool use, against botocore's Stubber (request shapes validated by the model)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from agentcage.errors import ModelError, ModelRateLimitError
from agentcage.models import (
    AssistantMessage,
    BedrockProvider,
    RetryPolicy,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)

MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "getCustomer",
            "description": "Customer profile.",
            "parameters": {"type": "object", "properties": {"customer_id": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "listVolumes", "parameters": {"type": "object"}}},
]
CONVERSATION = [
    SystemMessage(content="Be careful."),
    UserMessage(content="Look up C-1001."),
    AssistantMessage(
        content="Looking it up.",
        tool_calls=(
            ToolCall(id="tu_1", name="getCustomer", arguments={"customer_id": "C-1001"}),
            ToolCall(id="tu_2", name="listVolumes", arguments={}),
        ),
    ),
    ToolResultMessage(tool_call_id="tu_1", name="getCustomer", content={"tier": "gold"}),
    ToolResultMessage(tool_call_id="tu_2", name="listVolumes", status="denied", content="tool_not_allowed"),
]
EXPECTED_REQUEST = {
    "modelId": MODEL_ID,
    "system": [{"text": "Be careful."}],
    "messages": [
        {"role": "user", "content": [{"text": "Look up C-1001."}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Looking it up."},
                {"toolUse": {"toolUseId": "tu_1", "name": "getCustomer", "input": {"customer_id": "C-1001"}}},
                {"toolUse": {"toolUseId": "tu_2", "name": "listVolumes", "input": {}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "tu_1",
                        "content": [{"json": {"tier": "gold"}}],
                        "status": "success",
                    }
                },
                {
                    "toolResult": {
                        "toolUseId": "tu_2",
                        "content": [{"text": "tool_not_allowed"}],
                        "status": "error",
                    }
                },
            ],
        },
    ],
    "inferenceConfig": {"maxTokens": 300},
    "toolConfig": {
        "tools": [
            {
                "toolSpec": {
                    "name": "getCustomer",
                    "description": "Customer profile.",
                    "inputSchema": {
                        "json": {"type": "object", "properties": {"customer_id": {"type": "string"}}}
                    },
                }
            },
            {"toolSpec": {"name": "listVolumes", "inputSchema": {"json": {"type": "object"}}}},
        ]
    },
}
TOOL_USE_RESPONSE = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {"text": "I will list the orders."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_Xy12",
                        "name": "getCustomer",
                        "input": {"customer_id": "C-1002"},
                    }
                },
            ],
        }
    },
    "stopReason": "tool_use",
    "usage": {"inputTokens": 512, "outputTokens": 48, "totalTokens": 560},
    "metrics": {"latencyMs": 830},
}


@pytest.fixture
def client() -> Iterator[tuple[object, Stubber]]:
    runtime = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(runtime) as stubber:
        yield runtime, stubber
        stubber.assert_no_pending_responses()


def test_converse_request_and_tool_use_response_are_mapped(client: tuple[object, Stubber]) -> None:
    runtime, stubber = client
    stubber.add_response("converse", TOOL_USE_RESPONSE, EXPECTED_REQUEST)

    completion = BedrockProvider(model_id=MODEL_ID, client=runtime).complete(CONVERSATION, TOOLS, 300)

    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("tooluse_Xy12", "getCustomer", {"customer_id": "C-1002"})
    ]
    assert completion.text == "I will list the orders."
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (512, 48)
    assert completion.finish_reason == "tool_calls"
    assert (completion.provider, completion.model) == ("bedrock", MODEL_ID)


def test_throttling_is_retried_then_succeeds(client: tuple[object, Stubber]) -> None:
    runtime, stubber = client
    stubber.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    stubber.add_response("converse", {**TOOL_USE_RESPONSE, "stopReason": "max_tokens"})
    sleeps: list[float] = []

    completion = BedrockProvider(
        model_id=MODEL_ID,
        client=runtime,
        retry=RetryPolicy(jitter=False, base_delay_s=0.25),
        sleep=sleeps.append,
    ).complete(CONVERSATION, TOOLS, 300)

    assert sleeps == [0.25]
    assert completion.attempts == 2
    assert completion.finish_reason == "length"


def test_persistent_throttling_raises_rate_limit(client: tuple[object, Stubber]) -> None:
    runtime, stubber = client
    for _ in range(2):
        stubber.add_client_error("converse", "ThrottlingException", "slow down", 429)

    with pytest.raises(ModelRateLimitError):
        BedrockProvider(
            model_id=MODEL_ID, client=runtime, retry=RetryPolicy(max_attempts=2), sleep=lambda s: None
        ).complete(CONVERSATION, TOOLS, 300)


def test_validation_error_is_not_retried(client: tuple[object, Stubber]) -> None:
    runtime, stubber = client
    stubber.add_client_error("converse", "ValidationException", "messages: roles must alternate", 400)

    with pytest.raises(ModelError) as caught:
        BedrockProvider(model_id=MODEL_ID, client=runtime, sleep=lambda s: None).complete(
            CONVERSATION, TOOLS, 300
        )

    assert caught.value.details["code"] == "ValidationException"
    assert caught.value.details["retryable"] is False
