"""IAM policy documents as typed Python objects, rendered to JSON only at the edge.

Policies are built from :class:`Statement` dicts (never raw JSON strings), so the rules the tests and
the policy pack enforce - no ``*`` action, ``*`` resources only where AWS requires them, trust
policies that pin ``aud`` and ``sub`` - are properties of data the program can inspect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi

from infra.policy_pack.rules import WILDCARD_RESOURCE_ALLOWED

__all__ = [
    "Statement",
    "PolicyDocument",
    "WILDCARD_RESOURCE_ALLOWED",
    "policy_json",
    "allow",
    "service_trust",
    "web_identity_trust",
    "log_writer",
    "xray_writer",
    "sqs_consumer",
    "SQS_CONSUME_ACTIONS",
    "only_these_roles",
    "nobody",
    "only_the_deployer",
    "principal_arn_patterns",
    "SQS_PURGE_ACTION",
    "LEDGER_ACTIONS",
    "LEDGER_SWEEPER_ACTIONS",
    "COORDINATOR_LEDGER_ACTIONS",
    "DEAD_LETTERS_LEDGER_ACTIONS",
    "TABLE_READ_ACTIONS",
    "TABLE_WRITE_ACTIONS",
    "IDEMPOTENCY_ACTIONS",
    "DATA_SERVICE_ACCESS",
]


class Statement(TypedDict):
    """One IAM statement; Action and Resource are always lists of exact names."""

    Sid: str
    Effect: str
    Action: list[str]
    Resource: NotRequired[list[pulumi.Input[str]]]
    Principal: NotRequired[dict[str, Any]]
    Condition: NotRequired[dict[str, dict[str, Any]]]


class PolicyDocument(TypedDict):
    """An IAM policy document."""

    Version: str
    Statement: list[Statement]


# The allow-list of Resource "*" lives with the policy pack that enforces it.


def policy_json(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """Render statements (which may hold Outputs such as ARNs) to a policy JSON string."""
    document: PolicyDocument = {"Version": "2012-10-17", "Statement": list(statements)}
    return pulumi.Output.json_dumps(document)


def allow(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[pulumi.Input[str]],
    condition: dict[str, dict[str, Any]] | None = None,
) -> Statement:
    """An Allow statement naming exact actions and resources."""
    if not actions or any("*" in action for action in actions):
        raise ValueError(f"statement {sid}: actions must be exact names, got {list(actions)}")
    if not resources:
        raise ValueError(f"statement {sid}: at least one resource is required")
    literal_wildcards = [r for r in resources if isinstance(r, str) and r == "*"]
    if literal_wildcards and not all(action in WILDCARD_RESOURCE_ALLOWED for action in actions):
        raise ValueError(
            f"statement {sid}: Resource * is only allowed for {sorted(WILDCARD_RESOURCE_ALLOWED)}"
        )
    statement: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": list(resources),
    }
    if condition:
        statement["Condition"] = condition
    return statement


def service_trust(service: str) -> Statement:
    """Trust an AWS service principal (``lambda.amazonaws.com``) to assume the role."""
    return {
        "Sid": "TrustService",
        "Effect": "Allow",
        "Action": ["sts:AssumeRole"],
        "Principal": {"Service": service},
    }


def web_identity_trust(
    provider_arn: pulumi.Input[str],
    issuer_host_path: str,
    audience: pulumi.Input[str],
    subject: pulumi.Input[str],
) -> Statement:
    """Trust one subject of one OIDC issuer for one audience, with StringEquals (no wildcards)."""
    return {
        "Sid": "TrustOneFederatedIdentity",
        "Effect": "Allow",
        "Action": ["sts:AssumeRoleWithWebIdentity"],
        "Principal": {"Federated": provider_arn},
        "Condition": {
            "StringEquals": {f"{issuer_host_path}:aud": audience, f"{issuer_host_path}:sub": subject},
        },
    }


def log_writer(log_group_arn: pulumi.Input[str]) -> Statement:
    """Write to exactly one log group (its streams)."""
    streams = pulumi.Output.from_input(log_group_arn).apply(
        lambda arn: f"{arn.removesuffix(':*')}:log-stream:*"
    )
    return allow("WriteOwnLogGroup", ["logs:CreateLogStream", "logs:PutLogEvents"], [streams])


def xray_writer() -> Statement:
    """Send trace segments (X-Ray offers no resource-level permission)."""
    return allow("SendTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])


SQS_CONSUME_ACTIONS: tuple[str, ...] = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
)
"""What taking a message off a queue takes: receiving it (and so hiding it from its consumer),
deleting it, and moving its visibility (holding it, or handing it back early). The batch APIs are
authorised under the same three names."""


def sqs_consumer(*queue_arns: pulumi.Input[str]) -> Statement:
    """What a Lambda event source mapping needs on its queues (one or more), and nothing else."""
    return allow("ConsumeOwnQueue", [*SQS_CONSUME_ACTIONS, "sqs:GetQueueAttributes"], list(queue_arns))


def only_these_roles(
    sids: tuple[str, str],
    actions: Sequence[str],
    roles: Sequence[pulumi.Input[str]],
    resource: pulumi.Input[str],
) -> list[Statement]:
    """A resource policy's pair: an Allow of ``actions`` for the role ARNs ``roles``, and a Deny of them
    for every other AWS principal (``aws:PrincipalArn`` of a role session is its role's ARN), so an
    over-broad grant elsewhere in the account (a person's admin role, a ``sqs:*`` on ``*``) cannot use
    them either: an explicit Deny wins over any Allow."""
    if not roles:
        raise ValueError(f"statements {sids}: at least one role is needed")
    allowed, denied = sids
    return [
        {
            "Sid": allowed,
            "Effect": "Allow",
            "Principal": {"AWS": list(roles)},
            "Action": list(actions),
            "Resource": [resource],
        },
        {
            "Sid": denied,
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": list(actions),
            "Resource": [resource],
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": list(roles)}},
        },
    ]


SQS_PURGE_ACTION = "sqs:PurgeQueue"
"""Deletes every message of a queue at once: no consumer needs it, so only the deployer keeps it."""


def principal_arn_patterns(caller_arn: str) -> list[str]:
    """The ``aws:PrincipalArn`` values of the principal behind ``caller_arn`` (``GetCallerIdentity``'s).

    A role session's caller ARN is its STS ``assumed-role/<name>/<session>`` ARN, while the condition
    key holds the role's IAM ARN, which may carry a path the session ARN leaves out: so both the
    pathless ARN and ``role/*/<name>`` (``ArnLike`` patterns). Any other caller (an IAM user) is itself.
    """
    parts = caller_arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        partition, account, name = parts[1], parts[4], parts[5].split("/")[1]
        return [
            f"arn:{partition}:iam::{account}:role/{name}",
            f"arn:{partition}:iam::{account}:role/*/{name}",
        ]
    return [caller_arn]


def only_the_deployer(
    sid: str, actions: Sequence[str], deployer: pulumi.Input[Sequence[str]], resource: pulumi.Input[str]
) -> Statement:
    """A Deny of ``actions`` to every AWS principal except the deployer (``deployer``: its
    :func:`principal_arn_patterns`), whatever the others' own policies grant."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": list(actions),
        "Resource": [resource],
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": deployer}},
    }


def nobody(sid: str, actions: Sequence[str], resource: pulumi.Input[str]) -> Statement:
    """A Deny of ``actions`` to every AWS principal (IAM users and roles of any account). A service's
    own internal work is no call by an AWS principal: SQS moving a message into a dead-letter queue is
    governed by that queue's redrive-allow policy, not by ``sqs:SendMessage``."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": list(actions),
        "Resource": [resource],
    }


# --- exact DynamoDB actions, per use -------------------------------------------------------------------
# Each set is what the code calls, and nothing more (tests/infra/test_infra_dynamodb_actions.py reads
# the DynamoDB calls of the ledger backend and the domain repository and compares). There are no
# TransactWriteItems/TransactGetItems IAM actions: a transaction is authorised per item with the
# action of its kind (Put -> PutItem, Update -> UpdateItem, ...).
#
# The ledger backend (agentcage/ledger/dynamodb*.py) for one task at a time (the tool executor):
# consistent GetItem and Query, conditional PutItem and UpdateItem, and transactions of Puts and
# Updates. Its only Scan is for work across all tasks (list_tasks, expire_stale without a task).
LEDGER_ACTIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
)
# Ledger.expire_stale across all tasks (the ledger-sweeper Lambda): a Scan for stale reservations, a
# consistent GetItem of each, a transaction that Puts the reservation and Updates the task's counters,
# then the audit event (UpdateItem for its sequence number, PutItem for the event). Nothing else.
LEDGER_SWEEPER_ACTIONS: tuple[str, ...] = (
    "dynamodb:Scan",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
# The coordinator (through its federated ledger role): the ledger's work, plus the Scan with which the
# approval-expiry timer finds tasks awaiting approval (Ledger.list_tasks; see coordinator/expiry.py).
COORDINATOR_LEDGER_ACTIONS: tuple[str, ...] = (*LEDGER_ACTIONS, "dynamodb:Scan")
# The dead-letters Lambda: read the task, its audit log (a stored result) and its results (Query), end
# it failed (a conditional UpdateItem) and append the audit event (UpdateItem for its sequence number,
# PutItem for the event). Nothing else.
DEAD_LETTERS_LEDGER_ACTIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "dynamodb:PutItem",
)
# The domain table (functions/aws/services/repository.py): reads are GetItem and Query; writes add
# PutItem, UpdateItem, DeleteItem and transactions of a Put and an Update.
TABLE_READ_ACTIONS: tuple[str, ...] = ("dynamodb:GetItem", "dynamodb:Query")
TABLE_WRITE_ACTIONS: tuple[str, ...] = (
    *TABLE_READ_ACTIONS,
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
# Powertools idempotency (DynamoDB persistence layer).
IDEMPOTENCY_ACTIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
# Per data service: its access to the domain table (none|read|write) and whether it uses the
# idempotency table.
DATA_SERVICE_ACCESS: Mapping[str, tuple[str, bool]] = {
    "customers": ("read", False),
    "orders": ("read", False),
    "risk": ("read", False),
    "refunds": ("write", True),
    "vendor": ("none", False),  # a simulated external endpoint: it keeps no state
    "volumes": ("write", False),
}
