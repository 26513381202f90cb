"""Who is calling the MCP gateway, and which agent's tools they may use.

In the cloud the caller presents an Entra bearer token; App Service Authentication validates it and
forwards the principal, and :class:`agentcage.approvals.PrincipalSource` (the one place that turns
request headers into a principal: a signed-in person, or an app-only token of a configured trusted
automation, and only when the platform's authentication is enabled) says who it is. The token stops
here: nothing of it reaches a tool (a ``ToolRequest`` carries the task, never the caller's credentials).
In the local runtime, listening on loopback only, a request without that header is the development
requester (or the development principal its ``X-Agentcage-Dev-Principal`` header names). Configuration
(:class:`~agentcage.mcp.settings.McpSettings`) maps callers to agents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agentcage.approvals import Principal, PrincipalSource
from agentcage.coordinator.access import requester_of
from agentcage.errors import GovernanceError
from agentcage.ledger.models import Requester
from agentcage.mcp.settings import ANY, McpSettings

__all__ = ["Caller", "authenticate"]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated MCP caller and the agent it is using."""

    principal: Principal
    agent_id: str

    @property
    def requester(self) -> Requester:
        """The task's requester (the ledger's record of on whose behalf it runs): the coordinator's own
        conversion, the one ``POST /api/tasks`` uses."""
        return requester_of(self.principal)


def authenticate(
    headers: Mapping[str, str], agent_id: str, source: PrincipalSource, settings: McpSettings
) -> Caller:
    """The caller of a request for ``agent_id`` (``AuthenticationError`` 401, ``GovernanceError`` 403)."""
    principal = source.requester(headers)
    agents = settings.agents_for(principal.id, development=principal.development)
    if ANY not in agents and agent_id not in agents:
        raise GovernanceError(
            f"{principal.name} may not use the agent {agent_id}", details={"agent": agent_id}
        )
    return Caller(principal=principal, agent_id=agent_id)
