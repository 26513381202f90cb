"""The MCP transport is started once per event loop and keeps nothing per client between requests.

Two gateways stand for two Function App instances (each with its own SDK transport and event loop)
over one ledger and one set of queues: whatever one of them answered, the other answers the same, and
a legacy client that initialized on one is served by the other. One loop serving many requests starts
one transport, which ends with its loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.functional.azure.azure_support import principal_header
from tests.functional.azure.conftest import Harness, build_harness
from tests.functional.coordinator.coordinator_support import FakeClock, open_test_ledger

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
CALLER = principal_header("5f1c0000-0000-0000-0000-000000000002", "Rita Rep", ("service_rep",))
READ = {"name": "getCustomer", "arguments": {"customer_id": "C-1001"}}


@pytest.fixture
def instances(
    functions: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Harness, list[Any]]]:
    """The Function App's harness, and two gateways (two instances) over its runtime."""
    import runtime

    from agentcage.mcp import McpGateway

    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    monkeypatch.setenv("AGENTCAGE_MCP_CALLERS", json.dumps({"*": ["returns-coordinator"]}))
    monkeypatch.setenv("AGENTCAGE_MCP_WAIT_SECONDS", "0")
    monkeypatch.setenv("AGENTCAGE_ENVIRONMENT", "dev")
    clock = FakeClock()
    with open_test_ledger("memory", clock, tmp_path) as ledger:
        harness = build_harness(functions, ledger, clock)
        yield harness, [McpGateway(runtime.get_runtime, inline=True) for _ in range(2)]
    runtime.set_runtime(None)


def _modern(method: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "instances-test", "version": "0.1"},
    }
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": {**params, "_meta": meta}}
    headers = {"Mcp-Protocol-Version": MODERN, "Mcp-Method": method}
    if method == "tools/call":
        headers["Mcp-Name"] = str(params["name"])
    return body, headers


def _legacy(
    method: str, params: dict[str, Any], *, version: str | None
) -> tuple[dict[str, Any], dict[str, str]]:
    body = {"jsonrpc": "2.0", "id": 3, "method": method, "params": params}
    return body, ({"Mcp-Protocol-Version": version} if version else {})


async def _post(gateway: Any, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    base = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "X-MS-CLIENT-PRINCIPAL": CALLER,
        "X-Agentcage-Conversation": "instances-1",
    }
    transport = httpx2.ASGITransport(app=gateway)
    async with httpx2.AsyncClient(transport=transport, base_url="https://coord.example") as http:
        response = await http.post("/api/mcp/returns-coordinator", json=body, headers={**base, **headers})
    return response.status_code, response.json()


def _result(answer: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    status, body = answer
    assert status == 200, body
    return dict(body["result"])


def test_a_call_answered_by_one_instance_is_answered_the_same_by_another(
    instances: tuple[Harness, list[Any]],
) -> None:
    harness, (first, second) = instances
    with asyncio.Runner() as one, asyncio.Runner() as other:
        # GIVEN a read call the first instance answered "pending" (the executor had not answered yet)
        pending = _result(one.run(_post(first, *_modern("tools/call", READ))))
        assert pending["structuredContent"]["status"] == "pending"
        # WHEN the executor answers and the client's retry reaches the other instance, then the first
        harness.pump.run()
        on_second = _result(other.run(_post(second, *_modern("tools/call", READ))))
        on_first = _result(one.run(_post(first, *_modern("tools/call", READ))))
    # THEN both carry the one recorded result, for the same task and call
    assert on_second["isError"] is False, on_second
    assert on_second["structuredContent"]["customer_id"] == "C-1001"
    assert on_second == on_first
    assert on_second["_meta"] == pending["_meta"]
    # AND the call was sent to the executor once
    assert len([m for m in harness.sender.messages if m.queue == "tool-requests"]) == 1


def test_a_legacy_client_initialized_on_one_instance_is_served_by_another(
    instances: tuple[Harness, list[Any]],
) -> None:
    _, (first, second) = instances
    initialize = {
        "protocolVersion": LEGACY,
        "capabilities": {},
        "clientInfo": {"name": "legacy-client", "version": "9"},
    }
    with asyncio.Runner() as one, asyncio.Runner() as other:
        # GIVEN a legacy client that initialized on the first instance (no session id: stateless)
        status, body = one.run(_post(first, *_legacy("initialize", initialize, version=None)))
        assert status == 200, body
        assert body["result"]["protocolVersion"] == LEGACY
        # WHEN its tools/list reaches each instance
        lists = [
            loop.run(_post(gateway, *_legacy("tools/list", {}, version=LEGACY)))
            for loop, gateway in ((other, second), (one, first))
        ]
    # THEN both answer it, with the same tools
    tools = [sorted(tool["name"] for tool in _result(answer)["tools"]) for answer in lists]
    assert (
        tools[0] == tools[1] == ["assessReturnException", "createRefund", "getCustomer", "listRecentOrders"]
    )


def test_one_loop_starts_the_transport_once_and_it_ends_with_the_loop(
    instances: tuple[Harness, list[Any]],
) -> None:
    _, (gateway, _) = instances
    managers = gateway._managers
    with asyncio.Runner() as loop:
        # GIVEN one event loop WHEN it serves several requests, modern and legacy
        for _ in range(3):
            _result(loop.run(_post(gateway, *_modern("tools/list", {}))))
            _result(loop.run(_post(gateway, *_legacy("tools/list", {}, version=LEGACY))))
        # THEN one transport serves them all
        assert managers.started() == 1
    # AND it ends, and is forgotten, with its loop
    assert managers.started() == 0
