"""The facts about one call that the policy decides on, and their Cedar context form.

Among them, on whose behalf the call is made: the task's requester (from the ledger, never from a
message), with the authority configuration gives their roles (:mod:`agentcage.policy.authority`), and
the authority of the approver's roles when the call is approved. A call without a recorded requester
has no authority at all (no refund limit, no environment), so the caps fail closed.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from agentcage.inspect.findings import InspectionSummary
from agentcage.policy.authority import RequesterAuthority, default_authority
from agentcage.policy.tags import (
    environment_values,
    is_production_like,
    normalize_environment,
    normalize_tags,
)

__all__ = [
    "ARGS_SUMMARY_TYPES",
    "BudgetState",
    "CallContext",
    "RequesterFacts",
    "args_summary",
    "cedar_context",
]

# The arguments policies may reason about, and their type; the same attributes as the schema's
# ArgsSummary (a unit test checks the two agree). Other arguments never reach Cedar.
ARGS_SUMMARY_TYPES: Final[Mapping[str, type]] = {
    "amount_cents": int,
    "currency": str,
    "quantity": int,
    "target_price_cents": int,
}
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class BudgetState:
    """What the policy knows about the task's budget when the call is proposed."""

    exhausted: bool = False
    remaining_fraction: float = 1.0


class RequesterFacts(Protocol):
    """Who a task runs for, as the ledger records it (``agentcage.ledger.Requester`` is one)."""

    @property
    def kind(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def roles(self) -> tuple[str, ...]: ...


_FULL_BUDGET = BudgetState()
_NO_FINDINGS = InspectionSummary()


@dataclass(frozen=True, slots=True)
class CallContext:
    """Everything about a proposed call beyond who calls which tool.

    ``target_tags`` are the tags of the resource a destructive call acts on, resolved from the
    service (``None``: not resolved, which fails closed for destructive calls).
    """

    environment: str
    args: Mapping[str, Any] = field(default_factory=dict)
    target_tags: Mapping[str, Any] | None = None
    approved: bool = False
    approver_roles: Collection[str] = ()
    budget: BudgetState | None = None
    inspection: InspectionSummary = _NO_FINDINGS
    requester: RequesterFacts | None = None
    authority: RequesterAuthority | None = None
    """The roles' limits (``None``: the configured ones, :func:`default_authority`)."""


def args_summary(args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments Cedar sees: the declared names, when present with the declared type."""
    summary: dict[str, Any] = {}
    for name, kind in ARGS_SUMMARY_TYPES.items():
        value = args.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, kind):
            continue
        if isinstance(value, int) and not _LONG_MIN <= value <= _LONG_MAX:
            continue  # not a Cedar Long; validation bounds every amount the policies look at
        summary[name] = value
    return summary


def cedar_context(
    call: CallContext, *, finance_threshold_cents: int, approval: tuple[bool, Collection[str]] | None = None
) -> dict[str, Any]:
    """The Cedar ``context`` record for ``call`` (``approval`` overrides the call's approval state,
    which is how the engine asks "would an approval lift this?")."""
    budget = call.budget or _FULL_BUDGET
    tags = call.target_tags
    approved, roles = approval if approval is not None else (call.approved, call.approver_roles)
    # Clamped before scaling: NaN counts as nothing left, and a huge float must not overflow int().
    fraction = (
        min(1.0, max(0.0, budget.remaining_fraction)) if math.isfinite(budget.remaining_fraction) else 0.0
    )
    remaining = int(fraction * 100)
    authority = call.authority or default_authority()
    return {
        "environment": normalize_environment(call.environment),
        "args": args_summary(call.args),
        "finance_threshold_cents": finance_threshold_cents,
        "target": {
            "known": tags is not None,
            "production_like": tags is not None and is_production_like(tags),
            "tags": sorted(normalize_tags(tags)) if tags else [],
            # the environments the target's tags name, else the deployment's (what a requester owns)
            "environments": sorted(environment_values(tags) or {normalize_environment(call.environment)})
            if tags is not None
            else [],
        },
        "approval": {
            "approved": bool(approved),
            "approver_roles": sorted(set(roles)),
            "approver_limits": {"refund_cents": authority.of(roles).refund_limit_cents},
        },
        "requester": _requester(call.requester, authority),
        "budget": {
            "exhausted": budget.exhausted or fraction <= 0,
            "remaining_percent": remaining,
        },
        "inspection": {
            "has_pii": call.inspection.has_pii,
            "has_secrets": call.inspection.has_secrets,
            "kinds": sorted(call.inspection.kinds),
        },
    }


def _requester(requester: RequesterFacts | None, authority: RequesterAuthority) -> dict[str, Any]:
    """The ``requester`` record: who, their roles, and the authority configuration gives those roles."""
    if requester is None:
        return {
            "known": False,
            "kind": "",
            "id": "",
            "roles": [],
            "limits": {"refund_cents": 0},
            "environments": [],
        }
    granted = authority.of(requester.roles)
    return {
        "known": True,
        "kind": str(requester.kind),
        "id": str(requester.id),
        "roles": sorted(set(requester.roles)),
        "limits": {"refund_cents": granted.refund_limit_cents},
        "environments": sorted(granted.environments),
    }
