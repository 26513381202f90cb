"""The governance gate, steps 1-3: toolset, arguments, inspection, policy.

The coordinator calls it before it sends a tool request and the AWS executor calls it again on
receipt; both get the same answer for the same facts. Nothing here raises for a bad proposal: a
refused call is a :class:`GateDecision` with a code, so the coordinator can hand the problem back to
the model.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Mapping
from typing import Any

from agentcage.envelopes import args_digest
from agentcage.errors import AgentcageError, UnknownAgentError
from agentcage.gate.decision import GateDecision, GateError
from agentcage.inspect.findings import summarize
from agentcage.inspect.scan import scan
from agentcage.policy.context import BudgetState, CallContext, RequesterFacts
from agentcage.policy.engine import PolicyEngine
from agentcage.tools.agents import AgentDefinition, check_references, load_agents
from agentcage.tools.catalog import Catalog
from agentcage.tools.tool import Tool
from agentcage.tools.validation import Problem

__all__ = ["GovernanceGate"]

_PathLike = str | os.PathLike[str]


class GovernanceGate:
    """Decides whether an agent may make a proposed tool call, and why."""

    def __init__(self, catalog: Catalog, agents: Mapping[str, AgentDefinition], policy: PolicyEngine) -> None:
        """A gate over ``agents``; :class:`AgentDefinitionError` if they name an operation the
        catalog lacks or a specialist that is not among them."""
        check_references(agents, catalog)
        self.catalog = catalog
        self.agents: Mapping[str, AgentDefinition] = dict(agents)
        self.policy = policy

    @classmethod
    def from_directory(
        cls,
        catalog_dir: _PathLike | None = None,
        policy_dir: _PathLike | None = None,
        agents_dir: _PathLike | None = None,
        *,
        finance_threshold_cents: int | None = None,
    ) -> GovernanceGate:
        """Load the catalog, the agents and the policies (each folder: the argument, then its
        ``AGENTCAGE_*_DIR`` variable, then ``shared/<folder>``)."""
        catalog = Catalog.from_directory(catalog_dir)
        agents = load_agents(catalog, agents_dir)
        policy = PolicyEngine.from_directory(policy_dir, finance_threshold_cents=finance_threshold_cents)
        return cls(catalog, agents, policy)

    @classmethod
    def default(cls) -> GovernanceGate:
        """The process-wide gate over the default folders, loaded once (Lambda and Functions
        instances keep it across invocations)."""
        return _default_gate()

    def agent(self, agent_id: str) -> AgentDefinition:
        """The agent's definition; :class:`UnknownAgentError` if there is none."""
        agent = self.agents.get(agent_id)
        if agent is None:
            raise UnknownAgentError(f"no agent named {agent_id!r}", details={"agent": agent_id})
        return agent

    def toolset(self, agent_id: str) -> tuple[Tool, ...]:
        """The tools the agent sees (the only ones its model is told about)."""
        return tuple(self.catalog[name] for name in self.agent(agent_id).toolset)

    def evaluate(
        self,
        agent_id: str,
        tool: str,
        args: Any,
        *,
        environment: str,
        target_tags: Mapping[str, Any] | None = None,
        approved: bool = False,
        approver_roles: Collection[str] = (),
        budget: BudgetState | None = None,
        requester: RequesterFacts | None = None,
    ) -> GateDecision:
        """Run steps 1-3 for one proposed call and say ``allow``, ``deny`` or ``needs_approval``.

        ``requester`` is the task's, from the ledger: the policy caps the call by their authority.
        """
        agent = self.agents.get(agent_id)
        if agent is None:
            return _refused(agent_id, tool, None, "unknown_agent", f"no agent named {agent_id!r}")
        found = self.catalog.get(tool)
        if found is None:
            return _refused(agent_id, tool, None, "unknown_tool", f"no tool named {tool!r}")
        if tool not in agent.toolset:
            return _refused(
                agent_id, tool, found, "tool_not_allowed", f"{tool} is not in the toolset of {agent_id}"
            )

        problems = found.problems(args)
        digest: str | None = None
        if not problems:
            try:
                digest = args_digest(args)
            except AgentcageError as not_json:  # valid by schema but not canonical JSON (NaN, inf)
                problems = [Problem("$", not_json.message, "json")]
        if problems:
            return GateDecision(
                "deny",
                agent_id,
                tool,
                found,
                GateError(
                    "invalid_arguments",
                    f"invalid arguments for {tool}: {len(problems)} problem(s)",
                    tuple(p.to_dict() for p in problems),
                ),
            )

        findings = tuple(scan(args))
        decision = self.policy.decide(
            agent,
            found,
            CallContext(
                environment=environment,
                args=args,
                target_tags=target_tags,
                approved=approved,
                approver_roles=approver_roles,
                budget=budget,
                inspection=summarize(findings),
                requester=requester,
            ),
        )
        refusal = None
        if not decision.allowed:
            message = "; ".join(decision.reasons) or "denied by policy"
            refusal = GateError(decision.error_code or "policy_denied", message)
        return GateDecision(
            decision.decision,
            agent_id,
            tool,
            found,
            refusal,
            policies=decision.policies,
            obligations=decision.obligations,
            approver_roles=decision.approver_roles,
            reasons=decision.reasons,
            policy_errors=decision.errors,
            findings=findings,
            args_digest=digest,
        )


def _refused(agent_id: str, tool: str, found: Tool | None, code: str, message: str) -> GateDecision:
    return GateDecision("deny", agent_id, tool, found, GateError(code, message), reasons=(message,))


@functools.cache
def _default_gate() -> GovernanceGate:
    return GovernanceGate.from_directory()
