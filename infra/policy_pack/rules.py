"""The deployment invariants as plain functions over (resource type, engine properties).

Properties use the engine's (camelCase) names, which is what both a CrossGuard policy and Pulumi's
mock monitor see, so the policy pack (``policies.py``) and the mock-based tests run the same checks.
Each check returns the list of violations (empty = compliant). A value that is not known yet
(a preview of a resource whose inputs depend on others) is skipped, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.policy_pack.sensitive import APP_INSIGHTS_CONNECTION_SETTING, secret_like_settings, settings_of

__all__ = [
    "WILDCARD_RESOURCE_ALLOWED",
    "TAGGABLE_TYPES",
    "REQUIRED_TAGS",
    "APP_INSIGHTS_CONNECTION_SETTING",
    "ResourceRule",
    "StackRule",
    "RESOURCE_RULES",
    "STACK_RULES",
    "statements_of",
    "settings_of",
    "secret_like_settings",
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
REQUIRED_TAGS = ("project", "environment")
# Every resource type this program creates that accepts tags (the tests check this list against the
# provider SDKs, so a new taggable type cannot slip past the policy pack).
TAGGABLE_TYPES = frozenset(
    {
        "aws:apigateway/restApi:RestApi",
        "aws:apigateway/stage:Stage",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:dynamodb/table:Table",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/role:Role",
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "aws:lambda/function:Function",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
        "azure-native:applicationinsights:Component",
        "azure-native:keyvault:Secret",
        "azure-native:keyvault:Vault",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:monitor:ActionGroup",
        "azure-native:monitor:MetricAlert",
        "azure-native:monitor:ScheduledQueryRule",
        "azure-native:operationalinsights:SavedSearch",
        "azure-native:operationalinsights:Workspace",
        "azure-native:resources:ResourceGroup",
        "azure-native:servicebus:Namespace",
        "azure-native:storage:StorageAccount",
        "azure-native:web:AppServicePlan",
        "azure-native:web:WebApp",
        "azuread:index/application:Application",
        "azuread:index/servicePrincipal:ServicePrincipal",
    }
)
Props = Mapping[str, Any]


@dataclass(frozen=True)
class ResourceRule:
    """One invariant over a single resource."""

    name: str
    description: str
    types: frozenset[str] | None  # None = every resource
    check: Callable[[str, Props], list[str]]


@dataclass(frozen=True)
class StackRule:
    """One invariant over the whole stack: (type, name, props) of every resource."""

    name: str
    description: str
    check: Callable[[list[tuple[str, str, Props]]], list[str]]


def _document(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return None  # unknown during preview
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return {"Statement": [{"Sid": "unparseable", "Action": "*", "Resource": "*"}]}
    return parsed if isinstance(parsed, dict) else None


def _is_number(value: Any) -> bool:
    # The engine passes every number as a float (protobuf Value); bool is not a count.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(resource_type: str, props: Props) -> list[dict[str, Any]]:
    """Every IAM statement a resource carries (trust and permission policies)."""
    fields = {
        "aws:iam/role:Role": ("assumeRolePolicy",),
        "aws:iam/rolePolicy:RolePolicy": ("policy",),
        "aws:iam/policy:Policy": ("policy",),
        "aws:sqs/queuePolicy:QueuePolicy": ("policy",),
    }.get(resource_type, ())
    found: list[dict[str, Any]] = []
    for field in fields:
        document = _document(props.get(field))
        if document is not None:
            found.extend(_as_list(document.get("Statement", [])))
    return found


def _no_wildcard_action(resource_type: str, props: Props) -> list[str]:
    problems = []
    for statement in statements_of(resource_type, props):
        if "NotAction" in statement:
            problems.append(f"statement {statement.get('Sid')}: NotAction grants everything else")
        problems.extend(
            f"statement {statement.get('Sid')}: wildcard action {action!r}"
            for action in _as_list(statement.get("Action", []))
            if "*" in str(action)
        )
    return problems


def _wildcard_resource_allowlisted(resource_type: str, props: Props) -> list[str]:
    problems = []
    for statement in statements_of(resource_type, props):
        if statement.get("Effect") != "Allow" or "*" not in _as_list(statement.get("Resource", [])):
            continue
        outside = [a for a in _as_list(statement.get("Action", [])) if a not in WILDCARD_RESOURCE_ALLOWED]
        if outside:
            problems.append(
                f"statement {statement.get('Sid')}: Resource * for {outside} (not in the allow-list)"
            )
    return problems


def _web_identity_pinned(resource_type: str, props: Props) -> list[str]:
    problems = []
    for statement in statements_of(resource_type, props):
        if "sts:AssumeRoleWithWebIdentity" not in _as_list(statement.get("Action", [])):
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


def _no_secrets_in_settings(resource_type: str, props: Props) -> list[str]:
    problems = secret_like_settings(settings_of(resource_type, props))
    if resource_type == "azure-native:web:WebApp" and (props.get("siteConfig") or {}).get(
        "connectionStrings"
    ):
        problems.append("siteConfig.connectionStrings must be empty: connections are identity-based")
    return problems


def _expect(props: Props, path: str, allowed: Iterable[Any]) -> list[str]:
    value: Any = props
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    allowed = list(allowed)
    return [] if value in allowed else [f"{path} is {value!r}, must be {' or '.join(map(repr, allowed))}"]


_LOCAL_AUTH: Mapping[str, list[tuple[str, list[Any]]]] = {
    "azure-native:servicebus:Namespace": [("disableLocalAuth", [True])],
    "azure-native:storage:StorageAccount": [("allowSharedKeyAccess", [False])],
    "azure-native:applicationinsights:Component": [("disableLocalAuth", [True])],
}
_TRANSPORT: Mapping[str, list[tuple[str, list[Any]]]] = {
    "azure-native:servicebus:Namespace": [("minimumTlsVersion", ["1.2", "1.3"])],
    "azure-native:storage:StorageAccount": [
        ("minimumTlsVersion", ["TLS1_2", "TLS1_3"]),
        ("enableHttpsTrafficOnly", [True]),
        ("allowBlobPublicAccess", [False]),
    ],
    "azure-native:web:WebApp": [
        ("httpsOnly", [True]),
        ("siteConfig.minTlsVersion", ["1.2", "1.3"]),
        ("siteConfig.scmMinTlsVersion", ["1.2", "1.3"]),
        ("siteConfig.ftpsState", ["Disabled"]),
    ],
}


def _table_rule(table: Mapping[str, list[tuple[str, list[Any]]]]) -> Callable[[str, Props], list[str]]:
    def check(resource_type: str, props: Props) -> list[str]:
        return [
            problem for path, allowed in table[resource_type] for problem in _expect(props, path, allowed)
        ]

    return check


def _queue_encrypted_and_dead_lettered(resource_type: str, props: Props) -> list[str]:
    if resource_type == "azure-native:servicebus:Queue":
        return _expect(props, "deadLetteringOnMessageExpiration", [True]) + (
            [] if _is_number(props.get("maxDeliveryCount")) else ["maxDeliveryCount must be set"]
        )
    problems = []
    if props.get("sqsManagedSseEnabled") is not True and not props.get("kmsMasterKeyId"):
        problems.append("SQS queue is not encrypted (sqsManagedSseEnabled or kmsMasterKeyId)")
    name = str(props.get("name", ""))
    if name.endswith("-dlq"):
        return problems  # a dead-letter queue is the end of the line
    redrive = props.get("redrivePolicy")
    if redrive is None:
        problems.append(f"queue {name or '?'} has no dead-letter queue (redrivePolicy)")
    elif (document := _document(redrive)) is not None and not document.get("deadLetterTargetArn"):
        problems.append(f"queue {name or '?'}: redrivePolicy names no deadLetterTargetArn")
    return problems


def _log_retention(resource_type: str, props: Props) -> list[str]:
    days = props.get("retentionInDays")
    if isinstance(days, int | float) and not isinstance(days, bool) and days > 0:
        return []
    return [f"retentionInDays is {days!r}: logs must expire"]


def _tagged(resource_type: str, props: Props) -> list[str]:
    tags = props.get("tags")
    if isinstance(tags, list):  # Entra: "key:value" strings; Log Analytics: [{name, value}]
        present = {str(t).split(":", 1)[0] for t in tags if isinstance(t, str)}
        present |= {str(t.get("name")) for t in tags if isinstance(t, dict)}
    else:
        present = set(tags or {})
    missing = [tag for tag in REQUIRED_TAGS if tag not in present]
    return [f"missing tags {missing}"] if missing else []


def _environment_of(props: Props) -> str | None:
    tags = props.get("tags")
    return tags.get("environment") if isinstance(tags, Mapping) else None


def _prod_point_in_time_recovery(resource_type: str, props: Props) -> list[str]:
    if _environment_of(props) != "prod":
        return []
    return _expect(props, "pointInTimeRecovery.enabled", [True]) + _expect(
        props, "deletionProtectionEnabled", [True]
    )


def _prod_alarms(resources: list[tuple[str, str, Props]]) -> list[str]:
    if not any(_environment_of(props) == "prod" for _, _, props in resources):
        return []
    alarms = [props for typ, _, props in resources if typ == "aws:cloudwatch/metricAlarm:MetricAlarm"]
    dlqs = [
        str(props.get("name"))
        for typ, _, props in resources
        if typ == "aws:sqs/queue:Queue" and str(props.get("name", "")).endswith("-dlq")
    ]
    problems = [
        f"prod: no alarm with actions on dead-letter queue {dlq}"
        for dlq in dlqs
        if not any(
            (a.get("dimensions") or {}).get("QueueName") == dlq and a.get("alarmActions") for a in alarms
        )
    ]
    trips = [
        a
        for a in alarms
        if "BreakerTrips" in json.dumps(a.get("metricQueries") or []) and a.get("alarmActions")
    ]
    if not trips:
        problems.append("prod: no alarm with actions on BreakerTrips")
    if not any(typ == "azure-native:monitor:ScheduledQueryRule" for typ, _, _ in resources):
        problems.append("prod: no Azure scheduled query alert")
    return problems


_IAM = frozenset(
    {
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/policy:Policy",
        "aws:sqs/queuePolicy:QueuePolicy",
    }
)
RESOURCE_RULES: tuple[ResourceRule, ...] = (
    ResourceRule(
        "iam-no-wildcard-action", "No IAM statement grants a wildcard action.", _IAM, _no_wildcard_action
    ),
    ResourceRule(
        "iam-wildcard-resource-allowlist",
        "Resource * only for actions AWS offers no resource-level permission for.",
        _IAM,
        _wildcard_resource_allowlisted,
    ),
    ResourceRule(
        "web-identity-trust-pinned",
        "Every web-identity trust pins aud and sub with StringEquals.",
        frozenset({"aws:iam/role:Role"}),
        _web_identity_pinned,
    ),
    ResourceRule(
        "no-secrets-in-settings",
        "No key, SAS, password or connection string in app settings or Lambda environment.",
        frozenset({"azure-native:web:WebApp", "aws:lambda/function:Function"}),
        _no_secrets_in_settings,
    ),
    ResourceRule(
        "local-auth-disabled",
        "Service Bus, storage and Application Insights accept Entra tokens only.",
        frozenset(_LOCAL_AUTH),
        _table_rule(_LOCAL_AUTH),
    ),
    ResourceRule(
        "https-tls12", "HTTPS only, TLS 1.2 or later.", frozenset(_TRANSPORT), _table_rule(_TRANSPORT)
    ),
    ResourceRule(
        "queues-encrypted-dead-lettered",
        "Every queue is encrypted and dead-lettered.",
        frozenset({"aws:sqs/queue:Queue", "azure-native:servicebus:Queue"}),
        _queue_encrypted_and_dead_lettered,
    ),
    ResourceRule(
        "log-retention",
        "Every log group and workspace expires its data.",
        frozenset({"aws:cloudwatch/logGroup:LogGroup", "azure-native:operationalinsights:Workspace"}),
        _log_retention,
    ),
    ResourceRule(
        "required-tags", "project and environment tags on every taggable resource.", TAGGABLE_TYPES, _tagged
    ),
    ResourceRule(
        "prod-point-in-time-recovery",
        "Prod DynamoDB tables have point-in-time recovery and deletion protection.",
        frozenset({"aws:dynamodb/table:Table"}),
        _prod_point_in_time_recovery,
    ),
)
STACK_RULES: tuple[StackRule, ...] = (
    StackRule("prod-alarms", "Prod alarms on every DLQ and on breaker trips, with actions.", _prod_alarms),
)
