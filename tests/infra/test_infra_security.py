"""Security invariants, asserted as rules over every resource of both stacks (run under mocks)."""

from __future__ import annotations

import importlib
import json
import re
import warnings
from typing import Any

from infra_harness import WEBHOOK_SECRET, StackRun

from agentcage.topology import queue_spec
from functions.aws.manifest import LAMBDAS
from infra.policy_pack.rules import (
    APP_INSIGHTS_CONNECTION_SETTING,
    RESOURCE_RULES,
    STACK_RULES,
    TAGGABLE_TYPES,
    WILDCARD_RESOURCE_ALLOWED,
    secret_like_settings,
    settings_of,
    statements_of,
)
from infra.tagging import tag_shape

IAM_TYPES = ("aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")
UAMI = "azure-native:managedidentity:UserAssignedIdentity"


def all_statements(run: StackRun) -> list[tuple[str, dict[str, Any]]]:
    return [(r.name, s) for t in IAM_TYPES for r in run.of_type(t) for s in statements_of(t, r.inputs)]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_iam_statement_grants_a_wildcard_action(run: StackRun) -> None:
    statements = all_statements(run)
    assert len(statements) > 20  # the rule ran over the real policies, not over nothing
    for owner, statement in statements:
        assert "NotAction" not in statement, owner
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{owner}: {action}"


def test_wildcard_resources_only_where_aws_requires_them(run: StackRun) -> None:
    wildcard_grants = {
        (owner, action)
        for owner, statement in all_statements(run)
        if "*" in as_list(statement.get("Resource", []))
        for action in as_list(statement["Action"])
    }
    assert {action for _, action in wildcard_grants} == set(WILDCARD_RESOURCE_ALLOWED)
    token = [s for _, s in all_statements(run) if "sts:GetWebIdentityToken" in as_list(s["Action"])]
    assert len(token) == 1  # only the bridge Lambda's role
    condition = token[0]["Condition"]
    assert condition["ForAllValues:StringEquals"] == {
        "sts:IdentityTokenAudience": ["api://AzureADTokenExchange"]
    }
    assert condition["NumericLessThanEquals"]["sts:DurationSeconds"] <= 3600


def test_every_web_identity_trust_pins_aud_and_sub_to_the_coordinator_identity(run: StackRun) -> None:
    tenant = run.config["agentcage:entraTenantId"]
    audience = run.one(
        "azuread:index/applicationIdentifierUri:ApplicationIdentifierUri", "azure-to-aws-identifier-uri"
    ).inputs["identifierUri"]
    (identity,) = run.of_type(UAMI)
    providers = run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    if run.stack == "dev":  # creates the account's provider for the issuer, accepting prod's audience too
        (provider,) = providers
        assert provider.inputs["url"] == f"https://sts.windows.net/{tenant}/"
        prod_audience = run.config["agentcage:oidcProviderExtraAudiences"].format(tenant=tenant)
        assert provider.inputs["clientIdLists"] == [audience, *json.loads(prod_audience)]
        provider_arn = provider.outputs["arn"]
    else:  # uses that provider: IAM allows one per issuer URL per account
        assert providers == []
        provider_arn = run.config["agentcage:existingOidcProviderArn"].format(tenant=tenant)
    trusts = [
        (r.name, s)
        for r in run.of_type("aws:iam/role:Role")
        for s in statements_of(r.type, r.inputs)
        if "sts:AssumeRoleWithWebIdentity" in as_list(s["Action"])
    ]
    assert {name for name, _ in trusts} == {
        "azure-to-aws-bridge-role",
        "azure-to-aws-ledger-role",
        "azure-to-aws-target-reader-role",
    }
    for name, statement in trusts:
        assert statement["Principal"] == {"Federated": provider_arn}, name
        assert statement["Condition"] == {
            "StringEquals": {
                f"sts.windows.net/{tenant}/:aud": audience,
                f"sts.windows.net/{tenant}/:sub": identity.outputs["principalId"],
            }
        }, name


def test_no_key_sas_password_or_connection_string_in_settings(run: StackRun) -> None:
    holders = run.of_type("azure-native:web:WebApp") + run.of_type("aws:lambda/function:Function")
    assert len(holders) == 11  # the Function App and 10 Lambdas
    for resource in holders:
        settings = settings_of(resource.type, resource.inputs)
        assert settings, resource.name
        assert secret_like_settings(settings) == [], resource.name


def test_app_insights_connection_string_is_the_only_exception_and_ingestion_needs_entra(
    run: StackRun,
) -> None:
    # The App Insights connection string holds an instrumentation key: an identifier, not a credential.
    # It is accepted only because local auth is disabled on the component, so ingestion needs the
    # Entra token the authentication string names.
    (app,) = run.of_type("azure-native:web:WebApp")
    (component,) = run.of_type("azure-native:applicationinsights:Component")
    (identity,) = run.of_type(UAMI)
    settings = settings_of(app.type, app.inputs)
    assert component.inputs["disableLocalAuth"] is True
    assert settings[APP_INSIGHTS_CONNECTION_SETTING] == component.outputs["connectionString"]
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        f"Authorization=AAD;ClientId={identity.outputs['clientId']}"
    )
    tampered = {
        APP_INSIGHTS_CONNECTION_SETTING: settings[APP_INSIGHTS_CONNECTION_SETTING] + ";SharedAccessKey=x"
    }
    assert secret_like_settings(tampered)  # the exception is for identifiers only


def test_the_approval_webhook_secret_is_only_in_key_vault(program_runs: dict[str, StackRun]) -> None:
    prod = program_runs["prod"]
    holders = [r for r in prod.resources if WEBHOOK_SECRET in json.dumps(r.inputs)]
    assert [r.type for r in holders] == ["azure-native:keyvault:Secret"]
    (app,) = prod.of_type("azure-native:web:WebApp")
    reference = settings_of(app.type, app.inputs)["AGENTCAGE_APPROVAL_WEBHOOK_URL"]
    (secret,) = prod.of_type("azure-native:keyvault:Secret")
    assert reference == f"@Microsoft.KeyVault(SecretUri={secret.outputs['properties']['secretUri']})"
    assert app.inputs["keyVaultReferenceIdentity"] == prod.of_type(UAMI)[0].outputs["id"]
    (vault,) = prod.of_type("azure-native:keyvault:Vault")
    assert vault.inputs["properties"]["enableRbacAuthorization"] is True
    dev_app = program_runs["dev"].of_type("azure-native:web:WebApp")[0]
    assert "AGENTCAGE_APPROVAL_WEBHOOK_URL" not in settings_of(dev_app.type, dev_app.inputs)
    assert program_runs["dev"].of_type("azure-native:keyvault:Vault") == []


def test_service_bus_storage_and_app_insights_accept_no_keys(run: StackRun) -> None:
    (namespace,) = run.of_type("azure-native:servicebus:Namespace")
    (account,) = run.of_type("azure-native:storage:StorageAccount")
    assert namespace.inputs["disableLocalAuth"] is True
    assert account.inputs["allowSharedKeyAccess"] is False
    assert account.inputs["defaultToOAuthAuthentication"] is True
    assert run.of_type("azure-native:applicationinsights:Component")[0].inputs["disableLocalAuth"] is True
    (app,) = run.of_type("azure-native:web:WebApp")
    assert "connectionStrings" not in app.inputs["siteConfig"]
    basic_auth = run.of_type("azure-native:web:WebAppScmAllowed") + run.of_type(
        "azure-native:web:WebAppFtpAllowed"
    )
    assert [r.inputs["allow"] for r in basic_auth] == [False, False]


def test_https_only_and_tls_12(run: StackRun) -> None:
    (account,) = run.of_type("azure-native:storage:StorageAccount")
    assert account.inputs["minimumTlsVersion"] == "TLS1_2"
    assert account.inputs["enableHttpsTrafficOnly"] is True
    assert account.inputs["allowBlobPublicAccess"] is False
    assert run.of_type("azure-native:servicebus:Namespace")[0].inputs["minimumTlsVersion"] == "1.2"
    (app,) = run.of_type("azure-native:web:WebApp")
    assert app.inputs["httpsOnly"] is True
    assert app.inputs["siteConfig"]["minTlsVersion"] == "1.2"
    assert app.inputs["siteConfig"]["ftpsState"] == "Disabled"


def test_every_queue_is_encrypted_and_dead_lettered(run: StackRun) -> None:
    queues = {q.inputs["name"]: q for q in run.of_type("aws:sqs/queue:Queue")}
    prefix = f"agentcage-{run.stack}"
    assert set(queues) == {
        f"{prefix}-{n}{s}" for n in ("tool-requests", "tool-results") for s in ("", "-dlq")
    }
    consumers = {spec.queue: spec.timeout_seconds for spec in LAMBDAS if spec.trigger == "sqs"}
    for name, queue in queues.items():
        assert queue.inputs["sqsManagedSseEnabled"] is True, name
        if not name.endswith("-dlq"):
            redrive = json.loads(queue.inputs["redrivePolicy"])
            assert redrive["deadLetterTargetArn"] == queues[f"{name}-dlq"].outputs["arn"]
            assert 1 <= redrive["maxReceiveCount"] <= 10
            consumer_timeout = consumers[name.removeprefix(f"{prefix}-")]
            assert queue.inputs["visibilityTimeoutSeconds"] >= 6 * consumer_timeout  # AWS guidance
    for queue in run.of_type("azure-native:servicebus:Queue"):
        spec = queue_spec(queue.inputs["queueName"], "azure")
        assert queue.inputs["deadLetteringOnMessageExpiration"] is True, queue.name
        assert queue.inputs["maxDeliveryCount"] == spec.max_deliveries
        assert queue.inputs["lockDuration"] == f"PT{spec.lock_seconds}S"
        # the coordinator sends with deterministic message ids so that a re-send is dropped
        assert queue.inputs["requiresDuplicateDetection"] is True


def test_every_log_group_and_workspace_has_retention(run: StackRun) -> None:
    days = run.config["agentcage:retention"]["logDays"]
    groups = run.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == 12  # 10 functions + API access + API execution logs
    assert {g.inputs["retentionInDays"] for g in groups} == {days}
    (workspace,) = run.of_type("azure-native:operationalinsights:Workspace")
    assert workspace.inputs["retentionInDays"] == run.config["agentcage:retention"]["workspaceDays"]


def _sdk_class(resource_type: str) -> type:
    package, module, rest = resource_type.split(":")
    root = {"aws": "pulumi_aws", "azure-native": "pulumi_azure_native", "azuread": "pulumi_azuread"}[package]
    module = module.split("/")[0]
    module_name = root if module == "index" else f"{root}.{'lambda_' if module == 'lambda' else module}"
    with warnings.catch_warnings():  # importing a whole provider module warns about deprecated siblings
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(importlib.import_module(module_name), rest)  # type: ignore[no-any-return]


def test_project_and_environment_tags_on_every_taggable_resource(run: StackRun) -> None:
    custom = [r for r in run.resources if r.custom]
    taggable = {r.type for r in custom if tag_shape(_sdk_class(r.type)) is not None}
    assert taggable <= TAGGABLE_TYPES, f"add to TAGGABLE_TYPES: {sorted(taggable - TAGGABLE_TYPES)}"
    assert len(taggable) >= 20
    for resource in (r for r in custom if r.type in taggable):
        tags = resource.inputs.get("tags")
        if isinstance(tags, dict):
            assert {k: tags.get(k) for k in ("project", "environment")} == {
                "project": "agentcage",
                "environment": run.stack,
            }, resource.name
        elif tags and isinstance(tags[0], dict):
            assert {"name": "environment", "value": run.stack} in tags, resource.name
        else:
            assert {"project:agentcage", f"environment:{run.stack}"} <= set(tags or []), resource.name


def test_children_are_parented_to_their_component_and_named_from_it(run: StackRun) -> None:
    for resource in (r for r in run.resources if r.custom):
        parent = run.by_urn(resource.parent)
        assert parent is not None, f"{resource.name} is not inside a component"
        assert not parent.custom, f"{resource.name} is parented to a custom resource"
        assert parent.type.startswith("agentcage:")
        stem = parent.name.replace("-", "")
        assert resource.name.startswith(parent.name + "-") or resource.name.startswith(stem), resource.name


def test_the_policy_pack_rules_hold_for_the_whole_program(run: StackRun) -> None:
    violations = [
        f"{rule.name}: {r.name}: {problem}"
        for r in run.resources
        for rule in RESOURCE_RULES
        if rule.types is None or r.type in rule.types
        for problem in rule.check(r.type, r.inputs)
    ]
    resources = [(r.type, r.name, r.inputs) for r in run.resources]
    violations += [f"{rule.name}: {problem}" for rule in STACK_RULES for problem in rule.check(resources)]
    assert violations == []


def test_no_resource_input_names_a_key_material_field(run: StackRun) -> None:
    forbidden = re.compile(
        r'"(accessKey|secretKey|password|sasToken|accountKey|primaryKey)"\s*:', re.IGNORECASE
    )
    for resource in run.resources:
        assert not forbidden.search(json.dumps(resource.inputs)), resource.name
