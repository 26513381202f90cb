"""Every policy of the pack over both stacks' real resources, delivered as the engine delivers them.

The resources are the ones the Pulumi program registers under mocks (``program_runs``, run once per
session). Each one goes through pulumi_policy's analyzer servicer (``policy_engine``): its inputs to
``Analyze``, every output to ``AnalyzeStack``, as protobuf Structs the servicer wraps in its proxies.
The committed stacks must pass; each rule must still catch a violation seeded into the same real
resources; and a first preview, where everything derived from another resource is unknown, must
neither fail nor be guessed into a violation.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from infra_harness import Resource, StackRun
from policy_engine import UNKNOWN_STRING, Diagnostic, EngineResource, PolicyEngine

from infra.policy_pack.rules import RESOURCE_RULES, STACK_RULES, TAGGABLE_TYPES

ENGINE = PolicyEngine()
SECRET_LOOKING = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VlZGVk"


def analyze_all(run: StackRun, props_of: Callable[[Resource], dict[str, Any]]) -> list[Diagnostic]:
    """Every diagnostic of every resource policy over the run's resources."""
    return [d for r in run.resources for d in ENGINE.analyze(r.type, props_of(r), r.name)]


def analyze_stack(run: StackRun, props_of: Callable[[Resource], dict[str, Any]]) -> list[Diagnostic]:
    """Every diagnostic of every stack policy over the run's resources."""
    return ENGINE.analyze_stack(
        EngineResource(r.type, r.name, r.urn, props_of(r), r.parent) for r in run.resources
    )


def test_the_committed_stacks_pass_every_policy_as_the_engine_runs_it(run: StackRun) -> None:
    # GIVEN every resource the program registers WHEN the engine analyzes inputs, then the stack's outputs
    diagnostics = analyze_all(run, lambda r: r.inputs) + analyze_stack(run, lambda r: r.outputs)
    # THEN nothing is reported: no false violation, and no advisory "can't run" either
    assert diagnostics == []


def test_every_resource_rule_applies_to_resources_of_both_stacks(run: StackRun) -> None:
    present = {r.type for r in run.resources}
    unexercised = [
        rule.name for rule in RESOURCE_RULES if rule.types is not None and not rule.types & present
    ]
    assert unexercised == []


# --- seeded violations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """A real resource with one violation of ``policy`` planted in its props."""

    resource: Resource
    props: dict[str, Any]
    expected: int | None = None  # exact number of violations, when the seeding fixes it


def _mutated(resource: Resource, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    props = copy.deepcopy(resource.inputs)
    change(props)
    return props


def _with_statement(field: str, statement: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(props: dict[str, Any]) -> None:
        document = json.loads(props[field])
        statements = document["Statement"]
        document["Statement"] = [*(statements if isinstance(statements, list) else [statements]), statement]
        props[field] = json.dumps(document)

    return change


_DOCUMENT_FIELD = {"aws:iam/role:Role": "assumeRolePolicy", "aws:iam/rolePolicy:RolePolicy": "policy"}


def _iam_seeds(run: StackRun, statement: dict[str, Any]) -> Iterator[Seed]:
    for resource_type, field in _DOCUMENT_FIELD.items():
        for r in run.of_type(resource_type):
            yield Seed(r, _mutated(r, _with_statement(field, statement)))


def _seed_wildcard_action(run: StackRun) -> Iterator[Seed]:
    yield from _iam_seeds(
        run, {"Sid": "Seeded", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"}
    )


def _seed_wildcard_resource(run: StackRun) -> Iterator[Seed]:
    yield from _iam_seeds(
        run, {"Sid": "Seeded", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
    )


def _seed_loose_web_identity(run: StackRun) -> Iterator[Seed]:
    def loosen(props: dict[str, Any]) -> None:
        props["assumeRolePolicy"] = props["assumeRolePolicy"].replace('"StringEquals"', '"StringLike"')

    for r in run.of_type("aws:iam/role:Role"):
        if "sts:AssumeRoleWithWebIdentity" in r.inputs["assumeRolePolicy"]:
            yield Seed(r, _mutated(r, loosen))


def _seed_secret_settings(run: StackRun) -> Iterator[Seed]:
    # Every one of the Web App's app settings gets a key: the rule must find each of them.
    def every_setting(props: dict[str, Any]) -> None:
        for pair in props["siteConfig"]["appSettings"]:
            pair["value"] = SECRET_LOOKING

    for app in run.of_type("azure-native:web:WebApp"):
        count = len(app.inputs["siteConfig"]["appSettings"])
        yield Seed(app, _mutated(app, every_setting), expected=count)

    def one_variable(props: dict[str, Any]) -> None:
        props["environment"]["variables"]["STORAGE"] = SECRET_LOOKING

    for function in run.of_type("aws:lambda/function:Function"):
        yield Seed(function, _mutated(function, one_variable), expected=1)


def _setter(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(props: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target = props
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value

    return change


def _seed_by_type(run: StackRun, changes: dict[str, list[tuple[str, Any]]]) -> Iterator[Seed]:
    for resource_type, settings in changes.items():
        for r in run.of_type(resource_type):
            for path, value in settings:
                yield Seed(r, _mutated(r, _setter(path, value)), expected=1)


def _seed_local_auth(run: StackRun) -> Iterator[Seed]:
    yield from _seed_by_type(
        run,
        {
            "azure-native:servicebus:Namespace": [("disableLocalAuth", False)],
            "azure-native:storage:StorageAccount": [("allowSharedKeyAccess", True)],
            "azure-native:applicationinsights:Component": [("disableLocalAuth", False)],
        },
    )


def _seed_transport(run: StackRun) -> Iterator[Seed]:
    yield from _seed_by_type(
        run,
        {
            "azure-native:servicebus:Namespace": [("minimumTlsVersion", "1.0")],
            "azure-native:storage:StorageAccount": [
                ("minimumTlsVersion", "TLS1_0"),
                ("enableHttpsTrafficOnly", False),
                ("allowBlobPublicAccess", True),
            ],
            "azure-native:web:WebApp": [
                ("httpsOnly", False),
                ("siteConfig.minTlsVersion", "1.0"),
                ("siteConfig.scmMinTlsVersion", "1.1"),
                ("siteConfig.ftpsState", "AllAllowed"),
            ],
        },
    )


def _seed_queues(run: StackRun) -> Iterator[Seed]:
    for queue in run.of_type("aws:sqs/queue:Queue"):
        yield Seed(queue, _mutated(queue, lambda p: p.update(sqsManagedSseEnabled=False)), expected=1)
        if "redrivePolicy" in queue.inputs:
            yield Seed(queue, _mutated(queue, lambda p: p.pop("redrivePolicy")), expected=1)
    yield from _seed_by_type(
        run,
        {"azure-native:servicebus:Queue": [("deadLetteringOnMessageExpiration", False)]},
    )


def _seed_retention(run: StackRun) -> Iterator[Seed]:
    for resource_type in ("aws:cloudwatch/logGroup:LogGroup", "azure-native:operationalinsights:Workspace"):
        for r in run.of_type(resource_type):
            yield Seed(r, _mutated(r, lambda p: p.pop("retentionInDays")), expected=1)


def _drop_environment_tag(props: dict[str, Any]) -> None:
    tags = props["tags"]
    if isinstance(tags, dict):
        del tags["environment"]
    else:  # Entra "key:value" strings, or Log Analytics [{name, value}]
        props["tags"] = [
            t
            for t in tags
            if not (
                t == f"environment:{t.split(':')[-1]}" if isinstance(t, str) else t["name"] == "environment"
            )
        ]


def _seed_missing_tag(run: StackRun) -> Iterator[Seed]:
    for r in run.resources:
        if r.type in TAGGABLE_TYPES:
            yield Seed(r, _mutated(r, _drop_environment_tag), expected=1)


SEEDERS: dict[str, Callable[[StackRun], Iterator[Seed]]] = {
    "iam-no-wildcard-action": _seed_wildcard_action,
    "iam-wildcard-resource-allowlist": _seed_wildcard_resource,
    "web-identity-trust-pinned": _seed_loose_web_identity,
    "no-secrets-in-settings": _seed_secret_settings,
    "local-auth-disabled": _seed_local_auth,
    "https-tls12": _seed_transport,
    "queues-encrypted-dead-lettered": _seed_queues,
    "log-retention": _seed_retention,
    "required-tags": _seed_missing_tag,
}
# Rules that only bind in prod have their own tests below.
PROD_ONLY = {"prod-point-in-time-recovery", "prod-alarms"}


def test_every_rule_has_a_seeded_violation_test() -> None:
    assert set(SEEDERS) | PROD_ONLY == {r.name for r in RESOURCE_RULES} | {r.name for r in STACK_RULES}


@pytest.mark.parametrize("policy", sorted(SEEDERS))
def test_each_rule_catches_a_violation_seeded_into_the_real_resources(run: StackRun, policy: str) -> None:
    seeds = list(SEEDERS[policy](run))
    assert seeds, f"{policy}: nothing in {run.stack} to seed"
    for seed in seeds:
        found = [
            d
            for d in ENGINE.analyze(seed.resource.type, seed.props, seed.resource.name)
            if d.policy == policy
        ]
        assert found, f"{policy} missed the violation seeded into {seed.resource.name}"
        assert all(d.mandatory for d in found)
        if seed.expected is not None:
            assert len(found) == seed.expected, [d.message for d in found]


def test_prod_tables_lose_point_in_time_recovery_only_as_a_violation_in_prod(run: StackRun) -> None:
    tables = run.of_type("aws:dynamodb/table:Table")
    assert tables
    for table in tables:
        for path, value in (("pointInTimeRecovery.enabled", False), ("deletionProtectionEnabled", False)):
            found = [
                d
                for d in ENGINE.analyze(table.type, _mutated(table, _setter(path, value)), table.name)
                if d.policy == "prod-point-in-time-recovery"
            ]
            assert len(found) == (1 if run.stack == "prod" else 0), (table.name, path)


def test_prod_alarms_without_actions_or_a_log_alert_are_violations_in_prod_only(run: StackRun) -> None:
    # GIVEN the stack's outputs with every alarm's actions dropped and no Azure scheduled query rule
    def silenced(r: Resource) -> dict[str, Any]:
        outputs = copy.deepcopy(r.outputs)
        if r.type == "aws:cloudwatch/metricAlarm:MetricAlarm":
            outputs["alarmActions"] = []
        return outputs

    resources = [
        EngineResource(r.type, r.name, r.urn, silenced(r), r.parent)
        for r in run.resources
        if r.type != "azure-native:monitor:ScheduledQueryRule"
    ]
    # WHEN the stack policy runs THEN prod reports every DLQ, the breaker trips and the missing alert
    found = sorted(d.message for d in ENGINE.analyze_stack(resources) if d.policy == "prod-alarms")
    if run.stack == "dev":
        assert found == []
        return
    dlqs = [q.inputs["name"] for q in run.of_type("aws:sqs/queue:Queue") if q.inputs["name"].endswith("-dlq")]
    assert len(dlqs) == 2
    assert found == sorted(
        [f"prod: no alarm with actions on dead-letter queue {q}" for q in dlqs]
        + ["prod: no alarm with actions on BreakerTrips", "prod: no Azure scheduled query alert"]
    )


# --- a first preview ----------------------------------------------------------------------------------


def _computed_strings(run: StackRun) -> set[str]:
    """Every string a provider computes (an output the inputs did not fix): unknown in a first preview."""
    found: set[str] = set()

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for r in run.resources:
        for key, value in r.outputs.items():
            if r.inputs.get(key) != value:
                found |= {s for s in strings(value) if len(s) >= 8}
    return found


def _as_first_preview(value: Any, computed: set[str]) -> Any:
    """``value`` with everything derived from another resource's outputs replaced by the unknown sentinel."""
    if isinstance(value, str):
        return UNKNOWN_STRING if any(c in value for c in computed) else value
    if isinstance(value, dict):
        if "__asset__" in value:
            return value
        return {k: _as_first_preview(v, computed) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_first_preview(v, computed) for v in value]
    return value


def test_a_first_preview_with_unknown_values_reports_nothing(run: StackRun) -> None:
    # GIVEN the inputs as a first preview sees them: every ARN, id, URL or name a provider computes is unknown
    computed = _computed_strings(run)
    preview = {r.urn: _as_first_preview(r.inputs, computed) for r in run.resources}
    unknowns = json.dumps(preview).count(UNKNOWN_STRING)
    assert unknowns > 50, "the simulated preview must actually hide values"
    app = run.of_type("azure-native:web:WebApp")[0]
    assert UNKNOWN_STRING in json.dumps(preview[app.urn]["siteConfig"]["appSettings"])
    # WHEN the engine analyzes each resource and the stack
    diagnostics = analyze_all(run, lambda r: preview[r.urn]) + analyze_stack(run, lambda r: preview[r.urn])
    # THEN nothing is guessed into a violation, and no rule fails to run
    assert diagnostics == []
