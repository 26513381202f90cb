"""Policy: Cedar decides every tool call, outside the model.

Principal ``Agent::"<id>"`` (a member of its ``Role``), action ``Action::"call"``, resource
``Tool::"<operationId>"``; the context carries the environment, an arguments summary, the target's
tags (and whether they look production-like), the approval, the budget, what inspection found, and
the requester the task runs for with the authority configuration gives their roles.
Default deny; forbids annotated ``@obligation("approval")`` are lifted by an approval, so a decision is
``allow``, ``deny`` or ``needs_approval``, and any evaluation error is a deny.
"""

from agentcage.policy.authority import (
    DEFAULT_ROLE_AUTHORITY,
    RequesterAuthority,
    RoleAuthority,
    default_authority,
)
from agentcage.policy.context import (
    ARGS_SUMMARY_TYPES,
    BudgetState,
    CallContext,
    RequesterFacts,
    args_summary,
    cedar_context,
)
from agentcage.policy.decision import Decision, DecisionKind
from agentcage.policy.engine import DEFAULT_FINANCE_THRESHOLD_CENTS, PolicyEngine, PolicyMeta
from agentcage.policy.tags import (
    ENVIRONMENT_KEYS,
    PRODUCTION_ENVIRONMENTS,
    PROTECTED_KEYS,
    is_production_environment,
    is_production_like,
    normalize_environment,
    normalize_tag_text,
    normalize_tags,
)

__all__ = [
    # engine and decision
    "PolicyEngine",
    "PolicyMeta",
    "Decision",
    "DecisionKind",
    "DEFAULT_FINANCE_THRESHOLD_CENTS",
    # the request context
    "CallContext",
    "BudgetState",
    "ARGS_SUMMARY_TYPES",
    "args_summary",
    "cedar_context",
    # on whose behalf: the requester and the authority of roles
    "RequesterFacts",
    "RequesterAuthority",
    "RoleAuthority",
    "DEFAULT_ROLE_AUTHORITY",
    "default_authority",
    # target tags
    "is_production_like",
    "is_production_environment",
    "normalize_tags",
    "normalize_tag_text",
    "normalize_environment",
    "ENVIRONMENT_KEYS",
    "PROTECTED_KEYS",
    "PRODUCTION_ENVIRONMENTS",
]
