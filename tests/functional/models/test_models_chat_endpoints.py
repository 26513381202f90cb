"""Azure OpenAI and OpenAI-compatible providers with the real ``openai`` client against a local server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from models_chat_server import ChatServer, Reply, recording

from agentcage.errors import ModelError, ModelRateLimitError, ModelTimeoutError
from agentcage.models import (
    COGNITIVE_SERVICES_SCOPE,
    LOCAL_PLACEHOLDER_API_KEY,
    AssistantMessage,
    AzureOpenAIProvider,
    OpenAICompatibleProvider,
    RetryPolicy,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)

# A held answer comes only when the test ends (the server's release), so a client that waits for it
# instead of timing out fails the test; an answer given at once arrives well within ANSWERED_WITHIN_S
# even on a loaded 2-core machine. Neither is a measurement.
HELD_S = 120.0
ANSWERED_WITHIN_S = 2.0
FAKE_ENTRA_TOKEN = "eyJ0eXAiOiJKV1QifQ.fake-entra-token-for-tests.c2ln"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "getCustomer",
            "description": "Customer profile and lifetime value.",
            "parameters": {
                "type": "object",
                "properties": {"customer_id": {"type": "string"}},
                "required": ["customer_id"],
            },
        },
    }
]
MESSAGES = [
    SystemMessage(content="You are the return-exception assistant."),
    UserMessage(content="Refund order O-50001 for customer C-1001."),
]


class FakeEntraCredential:
    """A TokenCredential that hands out a fixed token and records the scopes asked for."""

    def __init__(self, *, fail: bool = False) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.fail = fail

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if self.fail:
            raise ClientAuthenticationError("managed identity endpoint unavailable")
        return AccessToken(FAKE_ENTRA_TOKEN, int(time.time()) + 3600)


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


def _azure(server: ChatServer, credential: FakeEntraCredential, **kwargs: Any) -> AzureOpenAIProvider:
    return AzureOpenAIProvider(
        endpoint=server.url, deployment="gpt-4o-agentcage", credential=credential, **kwargs
    )


def test_azure_sends_the_entra_token_and_no_api_key(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an API key in the environment that must never be used
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "must-not-be-sent")
    server.queue(Reply(200, recording("chat_tool_calls")))
    credential = FakeEntraCredential()

    # WHEN the Azure provider calls the deployment
    completion = _azure(server, credential).complete(MESSAGES, TOOLS, 256)

    # THEN the request carries the Entra bearer token for the Cognitive Services scope, and no key
    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {FAKE_ENTRA_TOKEN}"
    assert "api-key" not in request.headers
    assert credential.scopes == [(COGNITIVE_SERVICES_SCOPE,)]
    assert request.path == "/openai/deployments/gpt-4o-agentcage/chat/completions?api-version=2024-10-21"
    assert request.body["max_tokens"] == 256
    assert request.body["tools"] == TOOLS
    # AND the response's tool calls and usage come back as they were recorded
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("getCustomer", {"customer_id": "C-1001"}),
        ("listRecentOrders", {"customer_id": "C-1001", "limit": 5}),
    ]
    assert completion.tool_calls[0].id == "call_k2M5nXhT0bq8Y4dJ3wV1rPzA"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (412, 57)
    assert not completion.usage.estimated
    assert completion.provider == "azure_openai"
    assert completion.finish_reason == "tool_calls"
    assert not completion.scripted


def test_azure_credential_failure_is_a_model_error_without_a_request(server: ChatServer) -> None:
    with pytest.raises(ModelError, match="Entra token") as caught:
        _azure(server, FakeEntraCredential(fail=True)).complete(MESSAGES, TOOLS, 64)

    assert not caught.value.details["retryable"]
    assert server.requests == []


def test_rate_limit_is_retried_after_backoff_then_succeeds(server: ChatServer) -> None:
    # GIVEN a 429 (with Retry-After) and then a success
    server.queue(
        Reply(429, recording("rate_limited_429"), headers={"retry-after": "1"}),
        Reply(200, recording("chat_final_text")),
    )
    sleeps: list[float] = []
    provider = _azure(server, FakeEntraCredential(), retry=RetryPolicy(jitter=False), sleep=sleeps.append)

    # WHEN the model is called
    completion = provider.complete(MESSAGES, TOOLS, 64)

    # THEN it waited as the server asked, once, and the second answer is returned
    assert sleeps == [1.0]
    assert len(server.requests) == 2
    assert completion.attempts == 2
    assert completion.text
    assert completion.text.startswith("Customer C-1001")
    assert completion.usage.output_tokens == 31


def test_rate_limit_that_persists_raises_after_bounded_attempts(server: ChatServer) -> None:
    server.queue(*[Reply(429, recording("rate_limited_429"), headers={"retry-after": "0"})] * 3)
    provider = _azure(
        server, FakeEntraCredential(), retry=RetryPolicy(max_attempts=3, jitter=False), sleep=lambda s: None
    )

    with pytest.raises(ModelRateLimitError) as caught:
        provider.complete(MESSAGES, TOOLS, 64)

    assert caught.value.details["attempts"] == 3
    assert len(server.requests) == 3


def test_timeout_raises_model_timeout(server: ChatServer) -> None:
    # GIVEN a server that holds its answer until the test ends (no wall-clock race: it never answers
    # while the client waits, however slow the machine)
    server.queue(Reply(200, recording("chat_final_text"), delay_s=HELD_S))
    provider = OpenAICompatibleProvider(
        base_url=f"{server.url}/v1", model="llama3.1:8b", timeout=0.3, retry=RetryPolicy(max_attempts=1)
    )

    # WHEN / THEN the call gives up at its timeout (waiting for the answer would have returned it)
    with pytest.raises(ModelTimeoutError):
        provider.complete(MESSAGES, TOOLS, 64)
    assert len(server.requests) == 1


def test_timeout_then_success_is_retried(server: ChatServer) -> None:
    # GIVEN a first answer held until the test ends, then one at once; the timeout is generous for a
    # loopback answer on a loaded machine, so only the held one times out
    server.queue(
        Reply(200, recording("chat_final_text"), delay_s=HELD_S), Reply(200, recording("chat_final_text"))
    )
    provider = OpenAICompatibleProvider(
        base_url=f"{server.url}/v1", model="llama3.1:8b", timeout=ANSWERED_WITHIN_S, sleep=lambda s: None
    )

    completion = provider.complete(MESSAGES, TOOLS, 64)

    assert completion.attempts == 2
    assert len(server.requests) == 2


def test_deadline_clamps_the_attempt_timeout_and_stops_retrying(server: ChatServer) -> None:
    # GIVEN a server that holds every answer, a per-attempt timeout of a minute, and a task deadline
    # half a second away
    server.queue(*[Reply(200, recording("chat_final_text"), delay_s=HELD_S)] * 3)
    attempt_timeout_s = 60.0
    provider = OpenAICompatibleProvider(
        base_url=f"{server.url}/v1", model="llama3.1:8b", timeout=attempt_timeout_s
    )
    started = time.monotonic()

    # WHEN / THEN the call ends at the deadline: no attempt runs its full minute, none starts after it
    with pytest.raises(ModelTimeoutError):
        provider.complete(MESSAGES, TOOLS, 64, deadline=time.time() + 0.5)
    assert time.monotonic() - started < attempt_timeout_s / 2  # a bound, not a measurement
    assert len(server.requests) <= 1  # (none, if the deadline had passed before the first attempt)


def test_server_error_is_retried_and_bad_request_is_not(server: ChatServer) -> None:
    server.queue(Reply(503, recording("server_error_503")), Reply(200, recording("chat_final_text")))
    provider = OpenAICompatibleProvider(base_url=f"{server.url}/v1", model="m", sleep=lambda s: None)
    assert provider.complete(MESSAGES, TOOLS, 64).attempts == 2

    server.queue(Reply(400, recording("bad_request_400")), Reply(200, recording("chat_final_text")))
    with pytest.raises(ModelError) as caught:
        provider.complete(MESSAGES, TOOLS, 64)
    assert caught.value.details == {"status": 400, "retryable": False, "attempts": 1}
    assert "string too long" in caught.value.message
    assert len(server.requests) == 3


def test_openai_compatible_sends_the_conversation_in_chat_form(server: ChatServer) -> None:
    # GIVEN a conversation with an earlier tool call and its (denied) result
    conversation = [
        *MESSAGES,
        AssistantMessage(
            tool_calls=(ToolCall(id="call_1", name="getCustomer", arguments={"customer_id": "C-1001"}),)
        ),
        ToolResultMessage(
            tool_call_id="call_1",
            name="getCustomer",
            status="denied",
            content={"code": "policy_denied", "message": "no"},
        ),
    ]
    server.queue(Reply(200, recording("chat_final_text")))

    # WHEN the OpenAI-compatible provider calls the local server
    OpenAICompatibleProvider(base_url=f"{server.url}/v1", model="llama3.1:8b").complete(
        conversation, TOOLS, 100
    )

    # THEN the request is standard Chat Completions with the placeholder key local servers ignore
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {LOCAL_PLACEHOLDER_API_KEY}"
    assert request.body["model"] == "llama3.1:8b"
    assert request.body["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "getCustomer", "arguments": '{"customer_id": "C-1001"}'},
            }
        ],
    }
    assert request.body["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"code":"policy_denied","message":"no"}',
    }


def test_malformed_tool_arguments_are_reported_not_guessed(server: ChatServer) -> None:
    server.queue(Reply(200, recording("chat_malformed_arguments")))

    completion = OpenAICompatibleProvider(base_url=f"{server.url}/v1", model="m").complete(
        MESSAGES, TOOLS, 64
    )

    (call,) = completion.tool_calls
    assert call.arguments == {}
    assert call.invalid_arguments
    assert "not valid JSON" in call.invalid_arguments


def test_missing_usage_is_estimated_and_flagged(server: ChatServer) -> None:
    server.queue(Reply(200, recording("chat_without_usage")))

    completion = OpenAICompatibleProvider(base_url=f"{server.url}/v1", model="m").complete(
        MESSAGES, TOOLS, 64
    )

    assert completion.usage.estimated
    assert completion.usage.input_tokens > 0
    assert completion.text == "Done."
