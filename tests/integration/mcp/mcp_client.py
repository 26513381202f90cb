"""A real MCP client (the ``mcp`` SDK's streamable-HTTP ``Client``) for the tests, run from sync code."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

CLIENT_INFO = types.Implementation(name="agentcage-tests", version="1.0")


def conversation() -> str:
    """A fresh conversation id: a task of its own."""
    return f"test-{uuid.uuid4().hex[:12]}"


async def _session(url: str, headers: Mapping[str, str], mode: str, work: Any) -> Any:
    async with httpx2.AsyncClient(headers=dict(headers), timeout=120) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, client_info=CLIENT_INFO) as client:
            return await work(client)


def run(url: str, work: Any, *, headers: Mapping[str, str] | None = None, mode: str = "auto") -> Any:
    """Run ``work(client)`` against ``url`` on a fresh event loop; returns what it returns."""
    return anyio.run(_session, url, headers or {}, mode, work)


def call(
    url: str, tool: str, arguments: dict[str, Any], *, conversation_id: str, mode: str = "auto"
) -> types.CallToolResult:
    """One ``tools/call`` in the conversation ``conversation_id``."""

    async def work(client: Client) -> types.CallToolResult:
        return await client.call_tool(tool, arguments)

    return run(url, work, headers={"X-Agentcage-Conversation": conversation_id}, mode=mode)


def list_tools(url: str, *, mode: str = "auto") -> list[types.Tool]:
    """``tools/list``."""

    async def work(client: Client) -> list[types.Tool]:
        return list((await client.list_tools()).tools)

    return run(url, work, mode=mode)


def calls(
    url: str, proposals: list[tuple[str, dict[str, Any]]], *, conversation_id: str
) -> list[types.CallToolResult]:
    """Several ``tools/call`` one after the other in one client session and conversation."""

    async def work(client: Client) -> list[types.CallToolResult]:
        return [await client.call_tool(tool, arguments) for tool, arguments in proposals]

    return run(url, work, headers={"X-Agentcage-Conversation": conversation_id})


def concurrent_calls(
    url: str, tool: str, arguments: dict[str, Any], *, clients: int
) -> list[types.CallToolResult]:
    """``clients`` clients at once, each in a conversation of its own, each calling ``tool`` once."""

    async def one(results: list[types.CallToolResult]) -> None:
        headers = {"X-Agentcage-Conversation": conversation()}
        async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, client_info=CLIENT_INFO) as client:
                results.append(await client.call_tool(tool, arguments))

    async def all_of_them() -> list[types.CallToolResult]:
        results: list[types.CallToolResult] = []
        async with anyio.create_task_group() as group:
            for _ in range(clients):
                group.start_soon(one, results)
        return results

    return anyio.run(all_of_them)
