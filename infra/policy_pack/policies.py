"""pulumi-policy objects built from :mod:`infra.policy_pack.rules` (importable; serving is __main__'s job).

Every policy hands its rule plain values (:func:`~infra.policy_pack.engine_values.plain`): the rules
never see pulumi_policy's proxy types.
"""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy_pack.engine_values import plain
from infra.policy_pack.rules import RESOURCE_RULES, STACK_RULES, ResourceRule, StackRule

__all__ = ["PACK_NAME", "resource_policy", "stack_policy", "all_policies"]

PACK_NAME = "agentcage-invariants"


def _resource_validate(rule: ResourceRule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if rule.types is not None and args.resource_type not in rule.types:
            return
        # The engine's props are pulumi_policy proxies, not dicts and lists: convert them once, here.
        for problem in rule.check(args.resource_type, plain(args.props)):
            report_violation(f"{args.name}: {problem}", args.urn)

    return validate


def resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    """A mandatory resource policy for one rule."""
    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=_resource_validate(rule),
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def stack_policy(rule: StackRule) -> StackValidationPolicy:
    """A mandatory stack policy for one rule."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [(r.resource_type, r.name, plain(r.props)) for r in args.resources]
        for problem in rule.check(resources):
            report_violation(problem, None)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def all_policies() -> list[Policy]:
    """Every policy of the pack."""
    return [
        *(resource_policy(rule) for rule in RESOURCE_RULES),
        *(stack_policy(rule) for rule in STACK_RULES),
    ]
