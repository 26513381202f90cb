"""The deployment invariants as plain functions over (resource type, engine properties).

Properties use the engine's (camelCase) names, which is what both a CrossGuard policy and Pulumi's
mock monitor see, so the policy pack (``policies.py``) and the mock-based tests run the same checks.
Props are plain dicts, lists and scalars (the policies convert pulumi_policy's proxies with
:func:`~infra.policy_pack.engine_values.plain`). Each check returns the list of violations
(empty = compliant). A value that is not known yet (:data:`UNKNOWN`, during a preview of a resource
whose inputs depend on others) is skipped, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from infra.policy_pack.engine_values import UNKNOWN
from infra.policy_pack.iam_statements import (
    WILDCARD_RESOURCE_ALLOWED,
    json_document,
    no_wildcard_action,
    statements_of,
    web_identity_pinned,
    wildcard_resource_allowlisted,
)
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
        "azure-native:cognitiveservices:Account",
        "azure-native:cognitiveservices:Deployment",
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


def _is_number(value: Any) -> TypeGuard[int | float]:
    # The engine passes every number as a float (protobuf Value); bool is not a count.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping; ``{}`` if it is absent or UNKNOWN (nothing known to check)."""
    return value if isinstance(value, Mapping) else {}


def _no_secrets_in_settings(resource_type: str, props: Props) -> list[str]:
    problems = secret_like_settings(settings_of(resource_type, props))
    connection_strings = _mapping(props.get("siteConfig")).get("connectionStrings")
    if (
        resource_type == "azure-native:web:WebApp"
        and connection_strings
        and connection_strings is not UNKNOWN
    ):
        problems.append("siteConfig.connectionStrings must be empty: connections are identity-based")
    return problems


def _expect(props: Props, path: str, allowed: Iterable[Any]) -> list[str]:
    value: Any = props
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
        if value is UNKNOWN:
            return []
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
        count = props.get("maxDeliveryCount")
        return _expect(props, "deadLetteringOnMessageExpiration", [True]) + (
            [] if _is_number(count) or count is UNKNOWN else ["maxDeliveryCount must be set"]
        )
    problems = []
    managed, key = props.get("sqsManagedSseEnabled"), props.get("kmsMasterKeyId")
    if UNKNOWN not in (managed, key) and managed is not True and not key:
        problems.append("SQS queue is not encrypted (sqsManagedSseEnabled or kmsMasterKeyId)")
    if props.get("name") is UNKNOWN:
        return problems  # cannot tell a dead-letter queue from one that needs one
    name = str(props.get("name", ""))
    if name.endswith("-dlq"):
        return problems  # a dead-letter queue is the end of the line
    redrive = props.get("redrivePolicy")
    if redrive is None:
        problems.append(f"queue {name or '?'} has no dead-letter queue (redrivePolicy)")
    elif (document := json_document(redrive)) is not None and not document.get("deadLetterTargetArn"):
        problems.append(f"queue {name or '?'}: redrivePolicy names no deadLetterTargetArn")
    return problems


def _log_retention(resource_type: str, props: Props) -> list[str]:
    days = props.get("retentionInDays")
    if days is UNKNOWN or (_is_number(days) and days > 0):
        return []
    return [f"retentionInDays is {days!r}: logs must expire"]


def _tagged(resource_type: str, props: Props) -> list[str]:
    tags = props.get("tags")
    if tags is UNKNOWN or (isinstance(tags, list) and UNKNOWN in tags):
        return []
    present: set[str] = set()
    if isinstance(tags, list):  # Entra: "key:value" strings; Log Analytics: [{name, value}]
        present |= {t.split(":", 1)[0] for t in tags if isinstance(t, str)}
        present |= {str(t.get("name")) for t in tags if isinstance(t, Mapping)}
    elif isinstance(tags, Mapping):
        present |= set(tags)
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


def _may_mention(value: Any, word: str) -> bool:
    """Whether ``word`` occurs in any string inside ``value`` (or could: an UNKNOWN part)."""
    if value is UNKNOWN:
        return True
    if isinstance(value, str):
        return word in value
    if isinstance(value, Mapping):
        return any(_may_mention(v, word) for v in value.values())
    if isinstance(value, list):
        return any(_may_mention(v, word) for v in value)
    return False


def _prod_alarms(resources: list[tuple[str, str, Props]]) -> list[str]:
    # A stack policy sees outputs, many UNKNOWN during a preview: an alarm that may watch a queue
    # (its QueueName not known yet) or may chart BreakerTrips counts, rather than guessing a violation.
    if not any(_environment_of(props) == "prod" for _, _, props in resources):
        return []
    alarms = [
        props
        for typ, _, props in resources
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm" and props.get("alarmActions")
    ]
    dlqs = [
        name
        for typ, _, props in resources
        if typ == "aws:sqs/queue:Queue"
        and isinstance(name := props.get("name"), str)
        and name.endswith("-dlq")
    ]
    watched = [_mapping(a.get("dimensions")).get("QueueName") for a in alarms]
    problems = [
        f"prod: no alarm with actions on dead-letter queue {dlq}"
        for dlq in dlqs
        if dlq not in watched and UNKNOWN not in watched
    ]
    if not any(_may_mention(a.get("metricQueries"), "BreakerTrips") for a in alarms):
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
        "iam-no-wildcard-action", "No IAM statement grants a wildcard action.", _IAM, no_wildcard_action
    ),
    ResourceRule(
        "iam-wildcard-resource-allowlist",
        "Resource * only for actions AWS offers no resource-level permission for.",
        _IAM,
        wildcard_resource_allowlisted,
    ),
    ResourceRule(
        "web-identity-trust-pinned",
        "Every web-identity trust pins aud and sub with StringEquals.",
        frozenset({"aws:iam/role:Role"}),
        web_identity_pinned,
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
