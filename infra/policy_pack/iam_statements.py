"""IAM statements in a resource's policy documents, and the rules over them.

The documents arrive as JSON strings (what ``pulumi.Output.json_dumps`` hands the engine), or as
UNKNOWN during a preview when they embed ARNs not created yet; an unknown document is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "WILDCARD_RESOURCE_ALLOWED",
    "json_document",
    "as_list",
    "statements_of",
    "no_wildcard_action",
    "wildcard_resource_allowlisted",
    "web_identity_pinned",
]

# Actions with no resource-level permissions: AWS accepts only Resource "*" for them.
WILDCARD_RESOURCE_ALLOWED: Mapping[str, str] = {
    "xray:PutTraceSegments": "X-Ray defines no resource type for this action; Resource must be *",
    "xray:PutTelemetryRecords": "X-Ray defines no resource type for this action; Resource must be *",
    "sts:GetWebIdentityToken": (
        "STS defines no resource type for GetWebIdentityToken; the statement pins the audience "
        "(sts:IdentityTokenAudience) and the token lifetime instead"
    ),
}


def json_document(value: Any) -> Mapping[str, Any] | None:
    """A policy document from its JSON text; None when absent or UNKNOWN (nothing to check yet).

    Text that is not JSON is treated as the worst document, so it can never pass unseen.
    """
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        return None  # UNKNOWN during preview, or absent
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return {"Statement": [{"Sid": "unparseable", "Action": "*", "Resource": "*"}]}
    return parsed if isinstance(parsed, dict) else None


def as_list(value: Any) -> list[Any]:
    """An IAM field that may be one value or a list of them, as a list."""
    return value if isinstance(value, list) else [value]


def statements_of(resource_type: str, props: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every IAM statement a resource carries (trust and permission policies)."""
    fields = {
        "aws:iam/role:Role": ("assumeRolePolicy",),
        "aws:iam/rolePolicy:RolePolicy": ("policy",),
        "aws:iam/policy:Policy": ("policy",),
        "aws:sqs/queuePolicy:QueuePolicy": ("policy",),
    }.get(resource_type, ())
    found: list[dict[str, Any]] = []
    for field in fields:
        document = json_document(props.get(field))
        if document is not None:
            found.extend(as_list(document.get("Statement", [])))
    return found


def no_wildcard_action(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    problems = []
    for statement in statements_of(resource_type, props):
        if "NotAction" in statement:
            problems.append(f"statement {statement.get('Sid')}: NotAction grants everything else")
        problems.extend(
            f"statement {statement.get('Sid')}: wildcard action {action!r}"
            for action in as_list(statement.get("Action", []))
            if "*" in str(action)
        )
    return problems


def wildcard_resource_allowlisted(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    problems = []
    for statement in statements_of(resource_type, props):
        if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource", [])):
            continue
        outside = [a for a in as_list(statement.get("Action", [])) if a not in WILDCARD_RESOURCE_ALLOWED]
        if outside:
            problems.append(
                f"statement {statement.get('Sid')}: Resource * for {outside} (not in the allow-list)"
            )
    return problems


def web_identity_pinned(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    problems = []
    for statement in statements_of(resource_type, props):
        if "sts:AssumeRoleWithWebIdentity" not in as_list(statement.get("Action", [])):
            continue
        conditions = statement.get("Condition", {})
        if set(conditions) != {"StringEquals"}:
            problems.append(
                f"statement {statement.get('Sid')}: only StringEquals may condition a web identity"
            )
            continue
        equals = conditions["StringEquals"]
        for claim in ("aud", "sub"):
            values = [v for k, v in equals.items() if k.endswith(f":{claim}")]
            if not values or any("*" in str(v) or "?" in str(v) or not v for v in values):
                problems.append(f"statement {statement.get('Sid')}: {claim} is not pinned to one exact value")
    return problems
