"""The policy's answer for one tool call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Decision", "DecisionKind"]

DecisionKind = Literal["allow", "deny", "needs_approval"]


@dataclass(frozen=True, slots=True)
class Decision:
    """``allow``, ``deny`` or ``needs_approval``, with the ids of the policies that decided it, the
    obligations they carry (``approval``), the approver roles an approval must come from, reasons a
    person can read, and Cedar's evaluation errors (any error means deny)."""

    decision: DecisionKind
    policies: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    approver_roles: tuple[str, ...] = ()
    error_code: str | None = field(default=None)

    @property
    def allowed(self) -> bool:
        """Whether the call may run now."""
        return self.decision == "allow"

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON."""
        return {
            "decision": self.decision,
            "policies": list(self.policies),
            "obligations": list(self.obligations),
            "approver_roles": list(self.approver_roles),
            "reasons": list(self.reasons),
            "errors": list(self.errors),
            "error_code": self.error_code,
        }
