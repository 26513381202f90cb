"""The CrossGuard policies, called directly with ResourceValidationArgs-like objects (constructing the
PolicyPack itself starts the analyzer server and blocks, so it is never done here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.policy_pack.policies import PACK_NAME, all_policies
from infra.policy_pack.rules import RESOURCE_RULES, STACK_RULES

POLICIES = {p.name: p for p in all_policies()}


@dataclass
class FakeResourceArgs:
    resource_type: str
    props: dict[str, Any]
    name: str = "thing"
    urn: str = "urn:pulumi:dev::agentcage::t::thing"


@dataclass
class FakePolicyResource:
    resource_type: str
    props: dict[str, Any]
    name: str = "thing"


@dataclass
class FakeStackArgs:
    resources: list[FakePolicyResource] = field(default_factory=list)


def violations(policy_name: str, resource_type: str, props: dict[str, Any]) -> list[str]:
    found: list[str] = []
    POLICIES[policy_name].validate(
        FakeResourceArgs(resource_type, props), lambda message, urn=None: found.append(message)
    )  # type: ignore[union-attr]
    return found


def policy_json(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_the_pack_has_one_mandatory_policy_per_rule() -> None:
    assert PACK_NAME == "agentcage-invariants"
    assert set(POLICIES) == {r.name for r in RESOURCE_RULES} | {r.name for r in STACK_RULES}
    assert {str(p.enforcement_level) for p in POLICIES.values()} == {"EnforcementLevel.MANDATORY"}


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
    assert violations("log-retention", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 14.0}) == []
    assert violations("required-tags", "aws:sqs/queue:Queue", {"tags": {"project": "agentcage"}})
    assert violations(
        "required-tags", "azuread:index/application:Application", {"tags": ["project:agentcage"]}
    )
    tagged = {"tags": {"project": "agentcage", "environment": "dev"}}
    assert violations("required-tags", "aws:sqs/queue:Queue", tagged) == []


def test_prod_tables_need_point_in_time_recovery_but_dev_tables_do_not() -> None:
    prod = {"tags": {"environment": "prod"}, "pointInTimeRecovery": {"enabled": False}}
    assert violations("prod-point-in-time-recovery", "aws:dynamodb/table:Table", prod)
    dev = {"tags": {"environment": "dev"}, "pointInTimeRecovery": {"enabled": False}}
    assert violations("prod-point-in-time-recovery", "aws:dynamodb/table:Table", dev) == []


def test_the_stack_policy_requires_prod_alarms_with_actions() -> None:
    found: list[str] = []
    resources = [
        FakePolicyResource("aws:dynamodb/table:Table", {"tags": {"environment": "prod"}}),
        FakePolicyResource("aws:sqs/queue:Queue", {"name": "agentcage-prod-tool-results-dlq"}),
    ]
    POLICIES["prod-alarms"].validate(
        FakeStackArgs(resources), lambda message, urn=None: found.append(message)
    )  # type: ignore[union-attr]
    assert any("tool-results-dlq" in m for m in found)
    assert any("BreakerTrips" in m for m in found)
    found.clear()
    dev = [FakePolicyResource("aws:dynamodb/table:Table", {"tags": {"environment": "dev"}})]
    POLICIES["prod-alarms"].validate(FakeStackArgs(dev), lambda message, urn=None: found.append(message))  # type: ignore[union-attr]
    assert found == []


def test_values_unknown_during_preview_are_skipped_not_guessed() -> None:
    assert violations("iam-no-wildcard-action", "aws:iam/rolePolicy:RolePolicy", {"policy": None}) == []
