"""``/api/mcp/{agent}``: each agent's governed toolset as an MCP server (``agentcage.mcp``), beside
``/api/tasks``; ``/api/mcp/.well-known/oauth-protected-resource[/{agent}]`` is its protected-resource
metadata. App Service Authentication validates the callers' Entra bearer tokens in front of it.

The gateway is an ASGI app; ``func.AsgiMiddleware`` carries the Functions request to it. The function
is synchronous (the host runs it on its thread pool) and runs the app on an event loop of its own: the
gateway waits for tool results, and those waits never hold up another invocation's loop.
"""

import asyncio
import functools

import azure.functions as func
from runtime import get_runtime

bp = func.Blueprint()


@functools.cache
def _middleware() -> func.AsgiMiddleware:
    # Built on first use: the MCP SDK is imported only by the instances that serve this route.
    from agentcage.mcp import McpGateway

    return func.AsgiMiddleware(McpGateway(get_runtime))


@bp.function_name("mcp")
@bp.route(
    route="mcp/{*path}",
    methods=[func.HttpMethod.GET, func.HttpMethod.POST, func.HttpMethod.DELETE],
)
def mcp(req: func.HttpRequest) -> func.HttpResponse:
    """MCP streamable HTTP (stateless, JSON responses): ``tools/list`` and ``tools/call``."""
    return asyncio.run(_middleware().handle_async(req))
