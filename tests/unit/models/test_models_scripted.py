"""The scripted offline model: each demo scenario as a deterministic state machine, and honest usage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.errors import ConfigurationError, ModelError
from agentcage.models import (
    MARKER,
    SCRIPTED_MODEL_NAME,
    AssistantMessage,
    Completion,
    Message,
    ScriptedModel,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
    estimate_tokens,
    normalize_tools,
    serialize_for_estimate,
)

CATALOG_TOOLS = [
    "getCustomer",
    "listRecentOrders",
    "assessReturnException",
    "createRefund",
    "negotiateVendorTerms",
    "listVolumes",
    "getVolume",
    "deleteVolume",
]
TOOLS = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in CATALOG_TOOLS
]

Responder = Callable[[ToolCall], tuple[str, Any]]


def play(
    request: str, responder: Responder, *, context: dict[str, Any] | None = None, max_turns: int = 12
) -> tuple[list[Completion], list[Message]]:
    """Run the agent loop against the scripted model, answering each tool call with ``responder``."""
    model = ScriptedModel()
    conversation: list[Message] = [SystemMessage(content="You are an agent."), UserMessage(content=request)]
    completions = []
    for _ in range(max_turns):
        completion = model.complete(conversation, TOOLS, 1000, context=context)
        completions.append(completion)
        if not completion.tool_calls:
            break
        conversation.append(AssistantMessage(content=completion.text, tool_calls=completion.tool_calls))
        for call in completion.tool_calls:
            status, content = responder(call)
            conversation.append(
                ToolResultMessage(tool_call_id=call.id, name=call.name, status=status, content=content)  # type: ignore[arg-type]
            )
    return completions, conversation


def calls_of(completions: list[Completion]) -> list[list[tuple[str, dict[str, Any]]]]:
    return [[(c.name, c.arguments) for c in completion.tool_calls] for completion in completions]


def returns_service(call: ToolCall) -> tuple[str, Any]:
    results = {
        "getCustomer": {"customer_id": "C-1001", "tier": "gold", "lifetime_value_cents": 1250000},
        "listRecentOrders": {
            "customer_id": "C-1001",
            "orders": [{"order_id": "O-50001", "total_cents": 18999}],
        },
        "assessReturnException": {"score": 35, "band": "medium", "threshold": 60, "reasons": []},
        "createRefund": {
            "refund_id": "RF-7",
            "order_id": "O-50001",
            "amount_cents": 18999,
            "status": "issued",
        },
    }
    return "ok", results[call.name]


def test_return_exception_plays_lookup_risk_refund_then_answers() -> None:
    completions, _ = play("Please make a return exception for C-1001", returns_service)

    assert calls_of(completions)[:3] == [
        [
            ("getCustomer", {"customer_id": "C-1001"}),
            ("listRecentOrders", {"customer_id": "C-1001", "limit": 5}),
        ],
        [
            (
                "assessReturnException",
                {
                    "customer_id": "C-1001",
                    "order_id": "O-50001",
                    "amount_cents": 18999,
                    "days_since_purchase": 45,
                    "reason": completions[1].tool_calls[0].arguments["reason"],
                },
            )
        ],
        [
            (
                "createRefund",
                {
                    "customer_id": "C-1001",
                    "order_id": "O-50001",
                    "amount_cents": 18999,
                    "currency": "USD",
                    "reason": completions[2].tool_calls[0].arguments["reason"],
                },
            )
        ],
    ]
    final = completions[-1]
    assert len(completions) == 4
    assert final.finish_reason == "stop"
    assert final.text is not None
    assert final.text.startswith(MARKER)
    assert "RF-7" in final.text
    assert "$189.99" in final.text
    assert all(
        c.scripted and c.provider == "scripted" and c.model == SCRIPTED_MODEL_NAME for c in completions
    )


def test_return_exception_reports_a_denied_refund() -> None:
    def deny_refund(call: ToolCall) -> tuple[str, Any]:
        if call.name == "createRefund":
            return "denied", {"code": "approval_denied", "message": "the approver said no"}
        return returns_service(call)

    completions, _ = play("refund", deny_refund, context={"scenario": "return_exception"})

    assert completions[-1].text is not None
    assert "was not issued: denied (approval_denied: the approver said no)" in completions[-1].text
    assert not completions[-1].tool_calls


def test_return_exception_stops_when_the_lookup_fails() -> None:
    def no_customer(call: ToolCall) -> tuple[str, Any]:
        if call.name == "getCustomer":
            return "error", {"error": {"code": "not_found", "message": "no customer C-1001"}}
        return returns_service(call)

    completions, _ = play("refund please", no_customer)

    assert len(completions) == 2
    assert completions[-1].text is not None
    assert "could not look up customer C-1001" in completions[-1].text


def test_runaway_vendor_never_gives_up_on_its_own() -> None:
    completions, _ = play(
        "Negotiate with the vendor",
        lambda call: ("error", {"code": "http_503", "message": "down"}),
        max_turns=25,
    )

    expected = (
        "negotiateVendorTerms",
        {"vendor_id": "V-1042", "sku": "WIDGET-9", "quantity": 500, "target_price_cents": 1200},
    )
    assert len(completions) == 25
    assert all(calls == [expected] for calls in calls_of(completions))


def test_runaway_vendor_answers_once_the_vendor_does() -> None:
    answers = iter([("error", "503"), ("circuit_open", {"code": "circuit_open", "message": "open"})])

    def recovering(call: ToolCall) -> tuple[str, Any]:
        return next(
            answers, ("ok", {"vendor_id": "V-1042", "unit_price_cents": 1190, "valid_until": "2030-01-01"})
        )

    completions, _ = play("vendor terms", recovering)

    assert len(completions) == 4
    assert completions[-1].text is not None
    assert "1190 cents" in completions[-1].text


VOLUMES = {
    "volumes": [
        {
            "volume_id": "vol-0a1b2c3d4e5f60001",
            "name": "orders-db-next",
            "size_gib": 500,
            "tags": {"env": "production-candidate"},
        },
        {"volume_id": "vol-0a1b2c3d4e5f60002", "name": "feature-x", "size_gib": 20, "tags": {"env": "dev"}},
        {
            "volume_id": "vol-0a1b2c3d4e5f60003",
            "name": "orders-db",
            "size_gib": 500,
            "tags": {"env": "production"},
        },
        {"volume_id": "vol-0a1b2c3d4e5f60004", "name": "old-scratch-copy", "size_gib": 5, "tags": {}},
    ]
}


def test_janitor_deletes_the_candidates_in_order_and_reports() -> None:
    def volumes_service(call: ToolCall) -> tuple[str, Any]:
        if call.name == "listVolumes":
            return "ok", VOLUMES
        volume = call.arguments["volume_id"]
        if volume.endswith("0001"):
            return "denied", {"code": "policy_denied", "message": "production-like tag"}
        if volume.endswith("0004"):
            return "denied", {"code": "approval_expired", "message": "nobody approved in time"}
        return "ok", {"volume_id": volume, "deleted": True}

    completions, _ = play("Clean up unused volumes", volumes_service)

    assert calls_of(completions)[:4] == [
        [("listVolumes", {})],
        [("deleteVolume", {"volume_id": "vol-0a1b2c3d4e5f60001"})],
        [("deleteVolume", {"volume_id": "vol-0a1b2c3d4e5f60002"})],
        [("deleteVolume", {"volume_id": "vol-0a1b2c3d4e5f60004"})],
    ]
    report = completions[-1].text
    assert report is not None
    assert "Deleted: vol-0a1b2c3d4e5f60002." in report
    assert "Denied: vol-0a1b2c3d4e5f60001 denied (policy_denied" in report
    assert "Not approved: vol-0a1b2c3d4e5f60004" in report
    assert "vol-0a1b2c3d4e5f60003" not in report


def test_hallucinated_parameters_are_corrected_after_the_structured_error() -> None:
    def strict(call: ToolCall) -> tuple[str, Any]:
        if set(call.arguments) != {"customer_id"}:
            return "error", {"code": "invalid_arguments", "message": "unknown parameter customerId"}
        return "ok", {
            "customer_id": "C-1001",
            "tier": "gold",
            "lifetime_value_cents": 10,
            "prior_exceptions": 0,
        }

    completions, _ = play("test a hallucinated parameter", strict)

    assert calls_of(completions)[:2] == [
        [("getCustomer", {"customerId": "C-1001", "include_history": True})],
        [("getCustomer", {"customer_id": "C-1001"})],
    ]
    assert completions[-1].text is not None
    assert "tier gold" in completions[-1].text


def test_unmatched_request_gets_an_honest_text_answer() -> None:
    completions, _ = play("What is the weather like?", returns_service)

    (only,) = completions
    assert only.tool_calls == ()
    assert only.text is not None
    assert only.text.startswith(MARKER)
    assert "No LLM was called" in only.text


def test_context_scenario_wins_over_keywords_and_unknown_names_fail() -> None:
    completions, _ = play(
        "refund please", lambda call: ("ok", {}), context={"scenario": "janitor"}, max_turns=1
    )
    assert calls_of(completions) == [[("listVolumes", {})]]

    with pytest.raises(ModelError, match="unknown scripted scenario"):
        ScriptedModel().complete([UserMessage(content="x")], TOOLS, 10, context={"scenario": "nope"})
    with pytest.raises(ConfigurationError):
        ScriptedModel(scenario="nope")


def test_a_tool_outside_the_toolset_is_not_called() -> None:
    only_reads = [t for t in TOOLS if t["function"]["name"] == "listVolumes"]

    completion = ScriptedModel().complete([UserMessage(content="refund C-1001")], only_reads, 100)

    assert completion.tool_calls == ()
    assert completion.text is not None
    assert "does not offer it" in completion.text


def test_a_tool_call_without_its_result_is_refused_like_chat_apis_do() -> None:
    dangling = [
        UserMessage(content="refund"),
        AssistantMessage(tool_calls=(ToolCall(id="c1", name="getCustomer", arguments={}),)),
    ]

    with pytest.raises(ModelError, match="has no result"):
        ScriptedModel().complete(dangling, TOOLS, 100)


def test_the_same_conversation_gives_the_same_completion() -> None:
    _, conversation = play("refund C-1001", returns_service, max_turns=2)

    first = ScriptedModel().complete(conversation, TOOLS, 500)
    second = ScriptedModel().complete(conversation, TOOLS, 500)

    assert first == second


def test_usage_is_the_documented_estimate() -> None:
    messages = [UserMessage(content="refund C-1001")]

    completion = ScriptedModel().complete(messages, TOOLS, 500)

    assert completion.usage.estimated
    offered = normalize_tools(TOOLS)
    assert completion.usage.input_tokens == estimate_tokens(serialize_for_estimate([*messages, *offered]))


@settings(max_examples=60, deadline=None)
@given(
    max_tokens=st.integers(min_value=1, max_value=200),
    request=st.sampled_from(["refund", "vendor", "volume", "?"]),
)
def test_output_never_exceeds_max_tokens(max_tokens: int, request: str) -> None:
    completion = ScriptedModel().complete([UserMessage(content=request)], TOOLS, max_tokens)

    assert 1 <= completion.usage.output_tokens <= max_tokens
    if completion.finish_reason == "length":
        assert completion.tool_calls == ()
        assert completion.text is not None
        assert len(completion.text.encode()) <= max_tokens * 4
