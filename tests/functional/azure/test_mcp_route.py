"""The Function App's MCP route, called directly as the Functions host calls it (AsgiMiddleware inside).

Behind App Service Authentication (``WEBSITE_AUTH_ENABLED=True``): the platform's principal header is
the caller. The wait for a result is 0 s here, so a call answers ``pending`` at once; the fake
executor then answers, and the same call again returns the recorded result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.azure.azure_support import http, principal_header
from tests.functional.azure.conftest import Harness, build_harness
from tests.functional.coordinator.coordinator_support import FakeClock, open_test_ledger

MODERN = "2026-07-28"
CALLER = principal_header("5f1c0000-0000-0000-0000-000000000001", "Rita Rep", ("service_rep",))


@pytest.fixture
def mcp_harness(
    functions: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    import runtime
    from blueprints import http_mcp

    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    monkeypatch.setenv("AGENTCAGE_MCP_CALLERS", json.dumps({"*": ["returns-coordinator"]}))
    monkeypatch.setenv("AGENTCAGE_MCP_WAIT_SECONDS", "0")
    monkeypatch.setenv("AGENTCAGE_ENVIRONMENT", "dev")
    http_mcp._middleware.cache_clear()  # settings are read on first use
    clock = FakeClock()
    with open_test_ledger("memory", clock, tmp_path) as ledger:
        yield build_harness(functions, ledger, clock)
    http_mcp._middleware.cache_clear()
    runtime.set_runtime(None)


def _rpc(
    harness: Harness,
    method: str,
    params: dict[str, Any],
    *,
    agent: str = "returns-coordinator",
    principal: str | None = CALLER,
) -> tuple[int, dict[str, Any], Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "functional-test", "version": "0.1"},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": MODERN,
        "X-Agentcage-Conversation": "functional-1",
        "Mcp-Method": method,  # the 2026-07-28 routing headers a client sends
    }
    if method == "tools/call":
        headers["Mcp-Name"] = str(params["name"])
    if principal is not None:
        headers["X-MS-CLIENT-PRINCIPAL"] = principal
    request = http("POST", f"mcp/{agent}", body=json.dumps(body).encode(), headers=headers)
    response = harness.functions["mcp"](request)
    return response.status_code, json.loads(response.get_body() or b"{}"), response


def test_tools_list_through_the_function(mcp_harness: Harness) -> None:
    # GIVEN a caller App Service Authentication signed in WHEN it lists the agent's tools
    status, body, _ = _rpc(mcp_harness, "tools/list", {})
    # THEN the function answers JSON-RPC with the toolset
    assert status == 200, body
    names = {tool["name"] for tool in body["result"]["tools"]}
    assert names == {"getCustomer", "listRecentOrders", "assessReturnException", "createRefund"}


def test_a_caller_without_identity_is_told_where_the_metadata_is(mcp_harness: Harness) -> None:
    # GIVEN no platform principal WHEN a client calls the route
    status, body, response = _rpc(mcp_harness, "tools/list", {}, principal=None)
    # THEN 401 with the protected-resource metadata's address, as the MCP authorization spec asks
    assert status == 401
    assert body["error"]["code"] == "unauthenticated"
    challenge = response.headers["WWW-Authenticate"]
    assert 'resource_metadata="' in challenge
    assert "/api/mcp/.well-known/oauth-protected-resource/returns-coordinator" in challenge
    # AND the metadata itself needs no identity
    request = http("GET", "mcp/.well-known/oauth-protected-resource/returns-coordinator")
    metadata = mcp_harness.functions["mcp"](request)
    document = json.loads(metadata.get_body())
    assert metadata.status_code == 200
    assert document["resource"].endswith("/api/mcp/returns-coordinator")


def test_a_caller_may_use_only_the_agents_configuration_names(mcp_harness: Harness) -> None:
    status, body, _ = _rpc(mcp_harness, "tools/list", {}, agent="janitor-agent")
    assert status == 403
    assert body["error"]["code"] == "denied"


def test_a_read_call_goes_through_the_queues_and_its_retry_returns_the_result(mcp_harness: Harness) -> None:
    # GIVEN a read call WHEN the function answers before the executor did (a 0 s wait)
    arguments = {"name": "getCustomer", "arguments": {"customer_id": "C-1001"}}
    status, body, _ = _rpc(mcp_harness, "tools/call", arguments)
    assert status == 200, body
    pending = body["result"]
    assert pending["isError"] is False
    assert pending["structuredContent"]["status"] == "pending"
    # THEN its ToolRequest went to the tool-requests queue like the coordinator's own
    sent = [m for m in mcp_harness.sender.messages if m.queue == "tool-requests"]
    assert len(sent) == 1
    # WHEN the executor answers (through the bridge and the tool-results trigger) and the client retries
    mcp_harness.pump.run()
    _, again, _ = _rpc(mcp_harness, "tools/call", arguments)
    # THEN the retry carries the result, and nothing was sent a second time
    done = again["result"]
    assert done["isError"] is False, done
    assert done["isError"] is False, done
    assert done["structuredContent"]["customer_id"] == "C-1001"
    assert len([m for m in mcp_harness.sender.messages if m.queue == "tool-requests"]) == 1
