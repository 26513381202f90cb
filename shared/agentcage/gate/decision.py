"""What the gate answers for one proposed tool call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentcage import errors
from agentcage.inspect.findings import Finding
from agentcage.policy.decision import DecisionKind
from agentcage.tools.tool import Tool

__all__ = ["GateDecision", "GateError"]

_ERROR_CLASSES: dict[str, type[errors.AgentcageError]] = {
    cls.code: cls
    for cls in (
        errors.UnknownAgentError,
        errors.UnknownToolError,
        errors.ToolNotAllowedError,
        errors.ToolArgumentsError,
        errors.PolicyDeniedError,
        errors.ApprovalRequiredError,
        errors.InspectionBlockedError,
        errors.BudgetExceededError,
    )
}


@dataclass(frozen=True, slots=True)
class GateError:
    """Why a call was not allowed: a stable code (one of the error tree's), a message, and for
    invalid arguments every problem (``{"path", "message", "keyword"}``) to hand back to the model."""

    code: str
    message: str
    problems: tuple[dict[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON (``ToolResult.error`` and the tool message the model reads)."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.problems:
            body["problems"] = list(self.problems)
        return body


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Steps 1-3 of the gate for one call: toolset, argument validation, inspection, policy.

    ``tool`` is set whenever the tool exists (its effect, egress, cost and target spec are there);
    ``args_digest`` whenever the arguments were valid (the digest an approval binds to).
    """

    decision: DecisionKind
    agent_id: str
    tool_name: str
    tool: Tool | None = None
    error: GateError | None = None
    policies: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    approver_roles: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    policy_errors: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    args_digest: str | None = None

    @property
    def allowed(self) -> bool:
        """Whether the call may run now."""
        return self.decision == "allow"

    @property
    def needs_approval(self) -> bool:
        """Whether the call may run once a human approves these exact arguments."""
        return self.decision == "needs_approval"

    def to_exception(self) -> errors.AgentcageError | None:
        """The error-tree exception for a refused call (``None`` when allowed), to raise or map."""
        if self.error is None:
            return None
        cls = _ERROR_CLASSES.get(self.error.code, errors.PolicyDeniedError)
        details: dict[str, Any] = {
            "tool": self.tool_name,
            "agent": self.agent_id,
            "policies": list(self.policies),
        }
        if self.error.problems:
            details["problems"] = list(self.error.problems)
        if self.approver_roles:
            details["approver_roles"] = list(self.approver_roles)
        return cls(self.error.message, details=details)

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON (audit events, ``policy explain --json``)."""
        return {
            "decision": self.decision,
            "agent": self.agent_id,
            "tool": self.tool_name,
            "effect": self.tool.effect if self.tool else None,
            "egress": self.tool.egress if self.tool else None,
            "cost": self.tool.cost if self.tool else None,
            "error": self.error.to_dict() if self.error else None,
            "policies": list(self.policies),
            "obligations": list(self.obligations),
            "approver_roles": list(self.approver_roles),
            "reasons": list(self.reasons),
            "policy_errors": list(self.policy_errors),
            "findings": [finding.to_dict() for finding in self.findings],
            "args_digest": self.args_digest,
        }
