"""The CrossGuard policies, each case run as ``pulumi preview --policy-pack`` runs it.

Every case goes through pulumi_policy's own analyzer servicer (``policy_engine.PolicyEngine``): props
travel as a protobuf Struct and reach the policy wrapped in pulumi_policy's proxies, so a rule that
only works on ``dict``/``list`` fails here as it would under the engine. The same rules over both
stacks' real resources are in ``test_infra_policy_pack_stacks.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from policy_engine import UNKNOWN_STRING, PolicyEngine, secret
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from infra.policy_pack.engine_values import UNKNOWN, plain
from infra.policy_pack.policies import PACK_NAME, all_policies
from infra.policy_pack.rules import RESOURCE_RULES, STACK_RULES

ENGINE = PolicyEngine()
POLICIES = {p.name: p for p in all_policies()}


def violations(policy_name: str, resource_type: str, props: dict[str, Any]) -> list[str]:
    """The mandatory violations one policy reports for one resource (no advisory skips expected)."""
    diagnostics = ENGINE.analyze(resource_type, props)
    assert all(d.mandatory for d in diagnostics), diagnostics
    return [d.message for d in diagnostics if d.policy == policy_name]


def policy_json(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_the_pack_has_one_mandatory_policy_per_rule() -> None:
    assert PACK_NAME == "agentcage-invariants"
    assert set(POLICIES) == {r.name for r in RESOURCE_RULES} | {r.name for r in STACK_RULES}
    assert {p.enforcement_level for p in POLICIES.values()} == {EnforcementLevel.MANDATORY}


def test_the_harness_delivers_pulumi_policys_proxies_not_dicts_and_lists() -> None:
    # GIVEN a probe policy behind the same servicer WHEN it is analyzed THEN its props are proxies.
    seen: list[Any] = []
    probe = ResourceValidationPolicy(
        name="probe",
        description="records what a policy receives",
        validate=lambda args, report: seen.append(args.props),
    )
    PolicyEngine([probe]).analyze("t:m:T", {"tags": ["a:b"], "siteConfig": {"appSettings": [{"name": "X"}]}})
    (props,) = seen
    assert isinstance(props, Mapping)
    assert not isinstance(props, dict)
    assert isinstance(props["tags"], Sequence)
    assert not isinstance(props["tags"], list)
    assert not isinstance(props["siteConfig"]["appSettings"][0], dict)


def test_plain_turns_proxies_into_builtins_secrets_into_values_and_unknowns_into_unknown() -> None:
    raw = {
        "tags": [{"name": "project", "value": "agentcage"}],
        "n": 3.0,
        "arn": UNKNOWN_STRING,
        "nested": {"items": ["a", UNKNOWN_STRING], "secret": secret("s3cr3t")},
    }
    proxied = unknown_checking_proxy(deserialize_properties(raw))
    assert plain(proxied) == {
        "tags": [{"name": "project", "value": "agentcage"}],
        "n": 3.0,
        "arn": UNKNOWN,
        "nested": {"items": ["a", UNKNOWN], "secret": "s3cr3t"},
    }
    assert type(plain(proxied)["nested"]["items"]) is list


@pytest.mark.parametrize("action", ["*", "s3:*", "dynamodb:Get*"])
def test_wildcard_actions_are_violations(action: str) -> None:
    props = {
        "policy": policy_json(
            {"Sid": "x", "Effect": "Allow", "Action": [action], "Resource": ["arn:aws:s3:::b"]}
        )
    }
    assert violations("iam-no-wildcard-action", "aws:iam/rolePolicy:RolePolicy", props)
    exact = {
        "policy": policy_json(
            {"Sid": "x", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/k"}
        )
    }
    assert violations("iam-no-wildcard-action", "aws:iam/rolePolicy:RolePolicy", exact) == []


def test_resource_star_only_for_allowlisted_actions() -> None:
    bad = {
        "policy": policy_json({"Sid": "x", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"})
    }
    good = {
        "policy": policy_json(
            {"Sid": "x", "Effect": "Allow", "Action": ["xray:PutTraceSegments"], "Resource": ["*"]}
        )
    }
    assert violations("iam-wildcard-resource-allowlist", "aws:iam/rolePolicy:RolePolicy", bad)
    assert violations("iam-wildcard-resource-allowlist", "aws:iam/rolePolicy:RolePolicy", good) == []


def _trust(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "assumeRolePolicy": policy_json(
            {
                "Sid": "t",
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/sts.windows.net/t/"},
                "Condition": condition,
            }
        )
    }


@pytest.mark.parametrize(
    "condition",
    [
        {"StringLike": {"sts.windows.net/t/:aud": "api://x", "sts.windows.net/t/:sub": "*"}},
        {"StringEquals": {"sts.windows.net/t/:aud": "api://x"}},
        {"StringEquals": {"sts.windows.net/t/:aud": "api://x", "sts.windows.net/t/:sub": "abc*"}},
        {},
    ],
)
def test_web_identity_trust_without_exact_aud_and_sub_is_a_violation(condition: dict[str, Any]) -> None:
    assert violations("web-identity-trust-pinned", "aws:iam/role:Role", _trust(condition))


def test_web_identity_trust_with_exact_aud_and_sub_passes() -> None:
    pinned = {"StringEquals": {"sts.windows.net/t/:aud": "api://x", "sts.windows.net/t/:sub": "0000-1111"}}
    assert violations("web-identity-trust-pinned", "aws:iam/role:Role", _trust(pinned)) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STORAGE", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc=="),
        ("SERVICEBUS", "Endpoint=sb://n.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=k"),
        ("BLOB_URL", "https://a.blob.core.windows.net/c?sv=2022&sig=abc"),
        ("DB_PASSWORD", "hunter2"),
        ("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=1;SharedAccessKey=x"),
    ],
)
def test_keys_and_connection_strings_in_settings_are_violations(name: str, value: str) -> None:
    app = {"siteConfig": {"appSettings": [{"name": name, "value": value}]}}
    assert violations("no-secrets-in-settings", "azure-native:web:WebApp", app)
    function = {"environment": {"variables": {name: value}}}
    assert violations("no-secrets-in-settings", "aws:lambda/function:Function", function)


def test_a_key_that_arrives_as_an_engine_secret_is_still_found() -> None:
    key = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc=="
    app = {"siteConfig": {"appSettings": [{"name": "STORAGE", "value": secret(key)}]}}
    assert violations("no-secrets-in-settings", "azure-native:web:WebApp", app)
    function = {"environment": {"variables": secret({"STORAGE": key})}}
    assert violations("no-secrets-in-settings", "aws:lambda/function:Function", function)


def test_every_app_setting_is_read_not_only_the_first() -> None:
    settings = [{"name": f"S{i}", "value": "x"} for i in range(5)]
    settings.append({"name": "LAST", "value": "Endpoint=sb://n/;SharedAccessKey=k"})
    found = violations(
        "no-secrets-in-settings", "azure-native:web:WebApp", {"siteConfig": {"appSettings": settings}}
    )
    assert len(found) == 1
    assert "LAST" in found[0]


def test_identity_settings_key_vault_references_and_the_app_insights_identifier_pass() -> None:
    app = {
        "siteConfig": {
            "appSettings": [
                {"name": "SERVICEBUS__fullyQualifiedNamespace", "value": "n.servicebus.windows.net"},
                {"name": "SERVICEBUS__credential", "value": "managedidentity"},
                {
                    "name": "WEBHOOK",
                    "value": "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/w)",
                },
                {
                    "name": "APPLICATIONINSIGHTS_CONNECTION_STRING",
                    "value": "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x/",
                },
            ]
        }
    }
    assert violations("no-secrets-in-settings", "azure-native:web:WebApp", app) == []


def test_local_auth_tls_and_https_are_checked() -> None:
    assert violations("local-auth-disabled", "azure-native:servicebus:Namespace", {"disableLocalAuth": False})
    assert violations("local-auth-disabled", "azure-native:storage:StorageAccount", {}) != []
    ok = {"minimumTlsVersion": "TLS1_2", "enableHttpsTrafficOnly": True, "allowBlobPublicAccess": False}
    assert violations("https-tls12", "azure-native:storage:StorageAccount", ok) == []
    assert violations(
        "https-tls12", "azure-native:storage:StorageAccount", {**ok, "minimumTlsVersion": "TLS1_0"}
    )
    assert violations("https-tls12", "azure-native:web:WebApp", {"httpsOnly": False, "siteConfig": {}})


def test_queues_must_be_encrypted_and_dead_lettered() -> None:
    check = "queues-encrypted-dead-lettered"
    assert violations(check, "aws:sqs/queue:Queue", {"name": "q", "sqsManagedSseEnabled": True})
    assert violations(check, "aws:sqs/queue:Queue", {"name": "q-dlq"})
    redrive = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:r:1:q-dlq", "maxReceiveCount": 5})
    assert (
        violations(
            check,
            "aws:sqs/queue:Queue",
            {"name": "q", "sqsManagedSseEnabled": True, "redrivePolicy": redrive},
        )
        == []
    )
    assert violations(check, "azure-native:servicebus:Queue", {"deadLetteringOnMessageExpiration": False})


def test_log_groups_need_retention_and_taggable_resources_need_both_tags() -> None:
    assert violations("log-retention", "aws:cloudwatch/logGroup:LogGroup", {"name": "g"})
    assert violations("log-retention", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 14}) == []
    assert violations("required-tags", "aws:sqs/queue:Queue", {"tags": {"project": "agentcage"}})
    tagged = {"tags": {"project": "agentcage", "environment": "dev"}}
    assert violations("required-tags", "aws:sqs/queue:Queue", tagged) == []


@pytest.mark.parametrize(
    ("resource_type", "complete", "partial"),
    [
        (
            "azuread:index/application:Application",
            ["environment:dev", "project:agentcage"],
            ["project:agentcage"],
        ),
        (
            "azure-native:operationalinsights:SavedSearch",
            [{"name": "environment", "value": "dev"}, {"name": "project", "value": "agentcage"}],
            [{"name": "project", "value": "agentcage"}],
        ),
    ],
)
def test_list_shaped_tags_are_read_as_tags(
    resource_type: str, complete: list[Any], partial: list[Any]
) -> None:
    # Entra tags ("key:value" strings) and Log Analytics tags ([{name, value}]) arrive as proxy lists.
    assert violations("required-tags", resource_type, {"tags": complete}) == []
    assert violations("required-tags", resource_type, {"tags": partial}) == [
        "thing: missing tags ['environment']"
    ]


def test_prod_tables_need_point_in_time_recovery_but_dev_tables_do_not() -> None:
    prod = {"tags": {"environment": "prod"}, "pointInTimeRecovery": {"enabled": False}}
    assert violations("prod-point-in-time-recovery", "aws:dynamodb/table:Table", prod)
    dev = {"tags": {"environment": "dev"}, "pointInTimeRecovery": {"enabled": False}}
    assert violations("prod-point-in-time-recovery", "aws:dynamodb/table:Table", dev) == []


def test_values_unknown_during_preview_are_skipped_not_guessed() -> None:
    # GIVEN props whose values depend on resources not created yet (the engine's unknown sentinel)
    assert (
        violations("iam-no-wildcard-action", "aws:iam/rolePolicy:RolePolicy", {"policy": UNKNOWN_STRING})
        == []
    )
    queue = {"name": "q", "sqsManagedSseEnabled": True, "redrivePolicy": UNKNOWN_STRING}
    assert violations("queues-encrypted-dead-lettered", "aws:sqs/queue:Queue", queue) == []
    assert (
        violations("log-retention", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": UNKNOWN_STRING})
        == []
    )
    assert violations("required-tags", "aws:sqs/queue:Queue", {"tags": UNKNOWN_STRING}) == []
    # THEN what is known is still checked, on the same resource
    unencrypted = {**queue, "sqsManagedSseEnabled": False}
    assert violations("queues-encrypted-dead-lettered", "aws:sqs/queue:Queue", unencrypted)
    app = {
        "httpsOnly": False,
        "siteConfig": {
            "minTlsVersion": "1.2",
            "scmMinTlsVersion": UNKNOWN_STRING,
            "ftpsState": "Disabled",
            "appSettings": [
                {"name": "AGENTCAGE_LEDGER_ROLE_ARN", "value": UNKNOWN_STRING},
                {"name": "STORAGE", "value": "DefaultEndpointsProtocol=https;AccountKey=k"},
            ],
        },
    }
    assert violations("https-tls12", "azure-native:web:WebApp", app) == [
        "thing: httpsOnly is False, must be True"
    ]
    assert len(violations("no-secrets-in-settings", "azure-native:web:WebApp", app)) == 1
