"""``/api/mcp/{agent}``: each agent's governed toolset as an MCP server (``agentcage.mcp``), beside
``/api/tasks``; ``/api/mcp/.well-known/oauth-protected-resource[/{agent}]`` is its protected-resource
metadata. App Service Authentication validates the callers' Entra bearer tokens in front of it.

The gateway is an ASGI app; ``func.AsgiMiddleware`` carries the Functions request to it. The function
is synchronous (the host runs it on its thread pool), and each of those threads keeps one event loop of
its own for its life (an ``asyncio.Runner``): one invocation at a time runs on it, so the gateway runs
the coordinator's blocking lifecycle on that loop (``inline``, no thread hop), its waits for tool
results never hold up another invocation, and the SDK's transport is started once per thread instead
of once per request (:mod:`agentcage.mcp.transport`).
"""

import asyncio
import functools
import threading

import azure.functions as func
from runtime import get_runtime

bp = func.Blueprint()

_threads = threading.local()


@functools.cache
def _middleware() -> func.AsgiMiddleware:
    # Built on first use: the MCP SDK is imported only by the instances that serve this route.
    from agentcage.mcp import McpGateway

    return func.AsgiMiddleware(McpGateway(get_runtime, inline=True))


def _loop() -> asyncio.Runner:
    """This thread's event loop, kept for the thread's life."""
    runner = getattr(_threads, "runner", None)
    if runner is None:
        runner = _threads.runner = asyncio.Runner()
    return runner


@bp.function_name("mcp")
@bp.route(
    route="mcp/{*path}",
    methods=[func.HttpMethod.GET, func.HttpMethod.POST, func.HttpMethod.DELETE],
)
def mcp(req: func.HttpRequest) -> func.HttpResponse:
    """MCP streamable HTTP (stateless, JSON responses): ``tools/list`` and ``tools/call``."""
    return _loop().run(_middleware().handle_async(req))
