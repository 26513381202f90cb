"""The MCP gateway under ``agentcage dev``: a real MCP client lists and calls governed tools."""

from __future__ import annotations

import pytest

from agentcage.local import LocalHost
from agentcage.local.client import AgentcageClient
from agentcage.local.demo import PRODUCTION_CANDIDATE_VOLUME
from agentcage.local.demo_state import DomainState
from tests.integration.mcp.mcp_client import call, conversation, list_tools

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
    other = call(_url(host), "createRefund", {**REFUND, "amount_cents": 4000}, conversation_id=conversation_id)
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
