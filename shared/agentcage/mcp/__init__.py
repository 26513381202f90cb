"""The MCP gateway: any agent framework reaches an agent's governed toolset through the Model Context
Protocol, and every ``tools/call`` runs the coordinator's own lifecycle (no second path)."""

from agentcage.mcp.answers import TASK_META_KEY, error_result, tool_result
from agentcage.mcp.callers import Caller, authenticate
from agentcage.mcp.gateway import (
    CONVERSATION_HEADER,
    CONVERSATION_META_KEY,
    MCP_PATH,
    METADATA_PATH,
    Backend,
    McpGateway,
)
from agentcage.mcp.settings import ANY, DEFAULT_WAIT_SECONDS, McpSettings
from agentcage.mcp.toolsets import listed_tools, tool_of

__all__ = [
    # the front door
    "McpGateway",
    "Backend",
    "McpSettings",
    "ANY",
    "DEFAULT_WAIT_SECONDS",
    "CONVERSATION_HEADER",
    "CONVERSATION_META_KEY",
    "MCP_PATH",
    "METADATA_PATH",
    # who calls
    "Caller",
    "authenticate",
    # what it shows and answers
    "listed_tools",
    "tool_of",
    "tool_result",
    "error_result",
    "TASK_META_KEY",
]
