"""What ``tools/list`` shows: the agent's toolset, only tools some policy could permit, with hints.

A tool is listed when the policy, given the best case no argument can improve on (a target known and
not production-like, no sensitive data, the budget not exhausted), would allow it or ask for an
approval. What no argument can change (the agent's role and toolset, the environment) decides: a
destructive tool in ``prod``, or one an agent's role may never use, is not shown, because the call path
would refuse it for every argument. Every call is still decided again with its real arguments.

The input schema is the operation's from the OpenAPI catalog; ``readOnlyHint``, ``destructiveHint``
and ``idempotentHint`` follow the tool's effect (a write is idempotent here: the executor runs an
approved write once per approval and argument digest).
"""

from __future__ import annotations

import functools

import mcp_types as types

from agentcage.gate import GovernanceGate
from agentcage.ledger.models import Requester
from agentcage.policy.context import CallContext
from agentcage.tools.tool import Tool

__all__ = ["listed_tools", "tool_of"]


def listed_tools(
    gate: GovernanceGate, agent_id: str, environment: str, requester: Requester
) -> list[types.Tool]:
    """The MCP tools ``agent_id`` shows ``requester`` in ``environment`` (``UnknownAgentError`` for an
    unknown agent). The requester matters: the policy caps the agent by their authority."""
    gate.agent(agent_id)
    return list(_listed(gate, agent_id, environment, requester))


@functools.lru_cache(maxsize=256)
def _listed(
    gate: GovernanceGate, agent_id: str, environment: str, requester: Requester
) -> tuple[types.Tool, ...]:
    # The catalog, the agents and the policies are loaded once per process: so is a caller's list.
    agent = gate.agent(agent_id)
    shown = []
    for tool in gate.toolset(agent_id):
        best_case = CallContext(environment=environment, args={}, target_tags={}, requester=requester)
        if gate.policy.decide(agent, tool, best_case).decision != "deny":
            shown.append(tool_of(tool))
    return tuple(shown)


def tool_of(tool: Tool) -> types.Tool:
    """The MCP description of one catalog tool."""
    read = tool.effect == "read"
    return types.Tool(
        name=tool.name,
        title=tool.name,
        description=tool.description or f"{tool.method} {tool.path} ({tool.service})",
        input_schema=dict(tool.args_schema),
        annotations=types.ToolAnnotations(
            read_only_hint=read,
            destructive_hint=tool.effect == "destructive",
            idempotent_hint=True,
            open_world_hint=tool.egress,
        ),
    )
