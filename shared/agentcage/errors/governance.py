"""The gate's refusals: policy, approvals, inspection, budgets and breakers.

The whole tree, with codes and statuses, is drawn in :mod:`agentcage.errors`.
"""

from __future__ import annotations

from agentcage.errors.base import AgentcageError

__all__ = [
    "GovernanceError",
    "ToolNotAllowedError",
    "PolicyDeniedError",
    "ApprovalRequiredError",
    "ApprovalInvalidError",
    "ApprovalExpiredError",
    "ApprovalMismatchError",
    "SelfApprovalError",
    "InspectionBlockedError",
    "SenderMismatchError",
    "BudgetError",
    "BudgetExceededError",
    "OverspendError",
    "CircuitOpenError",
    "LoopDetectedError",
]


class GovernanceError(AgentcageError):
    """The governance gate refused a call."""

    code = "denied"
    status = 403


class ToolNotAllowedError(GovernanceError):
    """The tool is not in the agent's toolset."""

    code = "tool_not_allowed"


class PolicyDeniedError(GovernanceError):
    """The Cedar policy denied the call; ``details["policies"]`` names the deciding policies."""

    code = "policy_denied"


class ApprovalRequiredError(GovernanceError):
    """The call needs a human approval bound to its exact arguments."""

    code = "approval_required"


class ApprovalInvalidError(GovernanceError):
    """The approval carried by a call does not authorise it."""

    code = "approval_invalid"


class ApprovalExpiredError(ApprovalInvalidError):
    """The approval has expired."""

    code = "approval_expired"
    status = 410


class ApprovalMismatchError(ApprovalInvalidError):
    """The approval was granted for other arguments, another tool or another task."""

    code = "approval_mismatch"


class SelfApprovalError(ApprovalInvalidError):
    """The approver is the agent itself."""

    code = "self_approval"


class InspectionBlockedError(GovernanceError):
    """Inspection found PII or secrets in arguments bound for a tool that may not receive them."""

    code = "sensitive_data_blocked"


class SenderMismatchError(GovernanceError):
    """The queue message's sender (role session) does not name the envelope's task."""

    code = "sender_mismatch"


class BudgetError(AgentcageError):
    """A budget or breaker stops the call."""

    code = "budget"
    status = 429


class BudgetExceededError(BudgetError):
    """Reserving this would pass a task limit; ``details["limit"]`` names which."""

    code = "budget_exceeded"


class OverspendError(BudgetError):
    """A settlement reported more than was reserved; recorded, never silently accepted."""

    code = "overspend"


class CircuitOpenError(BudgetError):
    """The tool's circuit breaker is open."""

    code = "circuit_open"
    status = 503


class LoopDetectedError(BudgetError):
    """The same tool with the same arguments was called too many times in one task."""

    code = "loop_detected"
