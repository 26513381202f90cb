"""The MCP gateway under ``agentcage dev``: a real MCP client lists and calls governed tools."""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.local import LocalHost
from agentcage.local.client import AgentcageClient
from agentcage.local.demo import PRODUCTION_CANDIDATE_VOLUME, VENDOR_ID, VENDOR_TOOL
from agentcage.local.demo_state import DomainState
from tests.integration.mcp.mcp_client import (
    CLIENT_INFO,
    call,
    calls,
    concurrent_calls,
    conversation,
    list_tools,
    run,
)

pytestmark = pytest.mark.integration

AGENT = "returns-coordinator"


def _url(host: LocalHost, agent: str = AGENT) -> str:
    return f"{host.url}/api/mcp/{agent}"


def test_tools_list_shows_the_agents_toolset_with_schemas_and_hints(host: LocalHost) -> None:
    # GIVEN the returns coordinator's MCP server WHEN a client lists its tools
    tools = {tool.name: tool for tool in list_tools(_url(host))}
    # THEN it sees its toolset, the catalog's schemas and hints from each tool's effect
    assert set(tools) == {"getCustomer", "listRecentOrders", "assessReturnException", "createRefund"}
    assert tools["getCustomer"].input_schema["required"] == ["customer_id"]
    assert tools["getCustomer"].annotations.read_only_hint is True
    assert tools["createRefund"].annotations.read_only_hint is False


def test_a_read_tool_runs_in_the_executor_and_returns_its_result(host: LocalHost) -> None:
    # GIVEN a conversation WHEN the client calls a read tool
    result = call(_url(host), "getCustomer", {"customer_id": "C-1001"}, conversation_id=conversation())
    # THEN the executor's answer comes back as structured content
    assert result.is_error is False, result
    assert result.structured_content["customer_id"] == "C-1001"


REFUND = {
    "customer_id": "C-1001",
    "order_id": "O-50001",
    "amount_cents": 5000,
    "currency": "USD",
    "reason": "espresso machine arrived dented; goodwill refund",
}


def test_a_refund_needs_an_approval_then_the_retry_returns_its_one_result(host: LocalHost) -> None:
    # GIVEN a conversation in which the client asks for a refund
    conversation_id = conversation()
    asked = call(_url(host), "createRefund", REFUND, conversation_id=conversation_id)
    # THEN nothing is refunded yet: the result says a person must approve, and where
    assert asked.is_error is True
    required = asked.structured_content
    assert required["status"] == "approval_required"
    assert required["approval_url"].endswith(f"/api/approvals/{required['approval_id']}")
    assert required["reasons"]
    domain = DomainState(host.aws)
    assert domain.refunds("O-50001") == []
    # WHEN a person approves over HTTP and the client retries with the same arguments
    AgentcageClient(host.url).decide(required["approval_id"], "approve")
    done = call(_url(host), "createRefund", REFUND, conversation_id=conversation_id)
    # THEN the refund is made exactly once and the retry carries its result
    assert done.is_error is False, done.structured_content
    assert len(domain.refunds("O-50001")) == 1
    # AND a further retry returns the same stored result without a second refund
    again = call(_url(host), "createRefund", REFUND, conversation_id=conversation_id)
    assert again.structured_content == done.structured_content
    assert len(domain.refunds("O-50001")) == 1
    # AND different arguments need an approval of their own
    other = call(
        _url(host), "createRefund", {**REFUND, "amount_cents": 4000}, conversation_id=conversation_id
    )
    assert other.structured_content["status"] == "approval_required"
    assert other.structured_content["approval_id"] != required["approval_id"]
    # AND the task is one like any other: GET /api/tasks/{id} shows the calls
    task_id = done.meta["agentcage/task_id"]
    view = AgentcageClient(host.url).get_task(task_id)
    assert [c["tool"] for s in view["steps"] for c in s["calls"]] == ["createRefund", "createRefund"]


def test_a_destructive_call_on_a_production_like_volume_is_denied_with_the_policys_reason(
    host: LocalHost,
) -> None:
    # GIVEN the janitor's MCP server WHEN a client asks it to delete a production-candidate volume
    result = call(
        _url(host, "janitor-agent"),
        "deleteVolume",
        {"volume_id": PRODUCTION_CANDIDATE_VOLUME},
        conversation_id=conversation(),
    )
    # THEN the call is refused, the policy's reason readable by the model, and the volume lives
    assert result.is_error is True
    error = result.structured_content["error"]
    assert error["code"] == "policy_denied"
    assert "production-like" in error["message"]
    assert PRODUCTION_CANDIDATE_VOLUME in DomainState(host.aws).volumes()


def test_an_exhausted_budget_is_a_tool_error_with_the_reason(host: LocalHost) -> None:
    # GIVEN a conversation whose calls use up the agent's 16 tool calls (refused calls count too)
    proposals = [("getCustomer", {"customer_id": f"bad-{n}"}) for n in range(16)]
    proposals.append(("getCustomer", {"customer_id": "C-1001"}))
    results = calls(_url(host), proposals, conversation_id=conversation())
    # THEN the first calls are refused one by one, and the call past the limit says the budget is spent
    assert all(r.structured_content["error"]["code"] == "invalid_arguments" for r in results[:16])
    last = results[-1]
    assert last.is_error is True
    assert last.structured_content["status"] == "ended"
    assert "budget_exceeded" in last.structured_content["error"]["message"]


def test_an_open_circuit_refuses_the_call_without_calling_the_vendor(host: LocalHost) -> None:
    # GIVEN the vendor tool's shared circuit is open (it failed as often as the breaker allows)
    ledger = host.ledger()
    for _ in range(ledger.breaker.failure_threshold):
        ledger.record_tool_outcome(VENDOR_TOOL, False)
    domain = DomainState(host.aws)
    before = domain.vendor_calls(VENDOR_ID)
    # WHEN a client asks the procurement agent for a quote
    quote = {"vendor_id": VENDOR_ID, "sku": "WIDGET-100", "quantity": 10, "target_price_cents": 1100}
    result = call(_url(host, "procurement-agent"), VENDOR_TOOL, quote, conversation_id=conversation())
    # THEN the result is a refusal naming the open circuit, and the vendor was not called
    assert result.is_error is True
    assert result.structured_content["error"]["code"] == "circuit_open"
    assert domain.vendor_calls(VENDOR_ID) == before


def test_a_legacy_initialize_client_lists_and_calls_tools(host: LocalHost) -> None:
    # GIVEN a client of an earlier protocol revision (initialize handshake first)
    # WHEN it lists the tools and calls a read tool on the same endpoint
    tools = list_tools(_url(host), mode="legacy")
    result = call(
        _url(host), "getCustomer", {"customer_id": "C-1001"}, conversation_id=conversation(), mode="legacy"
    )
    # THEN it is served like a current one
    assert "getCustomer" in {tool.name for tool in tools}
    assert result.is_error is False
    assert result.structured_content["customer_id"] == "C-1001"


def test_twenty_clients_at_once_each_get_their_own_result(host: LocalHost) -> None:
    # GIVEN twenty clients, each in a conversation of its own WHEN they call a read tool at once
    results = concurrent_calls(_url(host), "getCustomer", {"customer_id": "C-1001"}, clients=20)
    # THEN every one gets the executor's answer, each in its own task
    assert len(results) == 20
    assert all(r.is_error is False and r.structured_content["customer_id"] == "C-1001" for r in results)
    assert len({r.meta["agentcage/task_id"] for r in results}) == 20


def test_the_callers_trace_continues_into_the_task_and_the_audit_names_the_client(host: LocalHost) -> None:
    # GIVEN a client that sends its trace context in the request's _meta
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"

    async def work(client: Any) -> Any:
        return await client.call_tool(
            "getCustomer", {"customer_id": "C-1001"}, meta={"traceparent": traceparent}
        )

    # WHEN it calls a tool in a new conversation
    result = run(_url(host), work, headers={"X-Agentcage-Conversation": conversation()})
    # THEN the task runs on the caller's trace, and its audit log names the MCP client and version
    task_id = result.meta["agentcage/task_id"]
    ledger = host.ledger()
    assert ledger.get_task(task_id).traceparent.split("-")[1] == trace_id
    decisions = [e for e in ledger.audit(task_id) if e.kind == "decision"]
    assert decisions[0].data["client"]["name"] == CLIENT_INFO.name
    assert decisions[0].data["client"]["version"] == CLIENT_INFO.version
    assert decisions[0].trace_id == trace_id
