"""infra/config.py: the committed stacks parse; a missing or invalid key fails naming the key."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from infra_harness import REPO_ROOT

from agentcage.budget.config import BudgetConfig
from agentcage.errors import ConfigurationError
from infra.config import REQUIRED_KEYS, SECRET_KEYS, load_stack_config, parse_config

WEBHOOK = "agentcage:approvalWebhookUrl"


def committed(stack: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]


def error_for(values: dict[str, Any], secrets: frozenset[str] = frozenset()) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(values, secrets)
    return caught.value


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_committed_stack_file_holds_every_required_key_and_parses(stack: str) -> None:
    values = committed(stack)
    assert set(REQUIRED_KEYS) <= set(values)
    config = parse_config(values, frozenset())
    assert config.environment == stack
    assert config.prefix == f"agentcage-{stack}"
    assert config.federation_audience is None  # api://<the federation app's client id>, set by the program
    assert config.approval_webhook_url is None  # never committed: it is a secret
    BudgetConfig.model_validate(config.budget_document())  # the functions can load what infra writes


def test_prod_is_stricter_than_dev() -> None:
    dev, prod = (parse_config(committed(s), frozenset()) for s in ("dev", "prod"))
    assert prod.retention.log_days > dev.retention.log_days
    assert prod.data_protection.point_in_time_recovery
    assert not dev.data_protection.point_in_time_recovery
    assert prod.alarms.enabled
    assert prod.alarms.emails
    assert not dev.alarms.enabled
    assert prod.lambda_.queue_concurrency.executor > dev.lambda_.queue_concurrency.executor


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_a_missing_key_fails_naming_it(key: str) -> None:
    values = committed("dev")
    del values[key]
    error = error_for(values)
    assert key in str(error)
    assert error.details["key"] == key


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("agentcage:budget", "defaults", "tokens"), -1, "agentcage:budget.defaults.tokens"),
        (("agentcage:budget", "ceiling", "costMicroUsd"), "lots", "agentcage:budget.ceiling.costMicroUsd"),
        (("agentcage:retention", "logDays"), 10, "agentcage:retention"),
        (("agentcage:lambda", "architecture"), "sparc", "agentcage:lambda.architecture"),
        (("agentcage:model", "endpoint"), "http://plain.example.com", "agentcage:model"),
        (("agentcage:alarms", "emails"), ["not-an-address"], "agentcage:alarms.emails.0"),
        (("agentcage:functionApp", "instanceMemoryMb"), 1024, "agentcage:functionApp.instanceMemoryMb"),
        (("agentcage:breaker", "failureThresold"), 3, "agentcage:breaker.failureThresold"),
    ],
)
def test_an_invalid_value_fails_naming_the_key(path: tuple[str, ...], value: Any, named: str) -> None:
    values = copy.deepcopy(committed("dev"))
    target = values
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert named in str(error_for(values))


def test_structured_values_arrive_as_json_strings_like_the_engine_sends_them() -> None:
    import json

    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in committed("prod").items()}
    assert parse_config(values, frozenset()).alarms.emails == ("agentcage-oncall@example.com",)
    values["agentcage:budget"] = "{not json"
    assert "agentcage:budget" in str(error_for(values))


def test_defaults_above_the_ceiling_are_refused() -> None:
    values = committed("dev")
    values["agentcage:budget"]["defaults"]["toolCalls"] = 10_000
    assert "toolCalls" in str(error_for(values))


def test_a_model_without_a_price_is_refused() -> None:
    values = committed("dev")
    values["agentcage:budget"]["prices"] = {}
    assert "agentcage:budget.prices" in str(error_for(values))


def test_an_unknown_key_in_the_namespace_is_a_typo() -> None:
    values = {**committed("dev"), "agentcage:retentionDays": 7}
    assert "agentcage:retentionDays" in str(error_for(values))


def test_the_approval_webhook_must_be_a_secret_and_https() -> None:
    values = {**committed("dev"), WEBHOOK: "https://hooks.slack.com/services/T/B/x"}
    assert "--secret" in str(error_for(values))
    assert parse_config(values, frozenset(SECRET_KEYS)).approval_webhook_url == values[WEBHOOK]
    values[WEBHOOK] = "http://hooks.example.com/x"
    assert WEBHOOK in str(error_for(values, frozenset(SECRET_KEYS)))


def test_load_stack_config_reads_every_declared_key_once() -> None:
    values = committed("dev")
    seen: list[str] = []

    def read(key: str) -> Any:
        seen.append(key)
        return values.get(key)

    config = load_stack_config(read, lambda key: False)
    assert config.environment == "dev"
    assert sorted(seen) == sorted(set(seen))
    assert set(REQUIRED_KEYS) <= set(seen)


def test_model_settings_use_the_names_the_model_factory_reads() -> None:
    from agentcage import constants

    values = committed("dev")
    resource = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/mine"
    values["agentcage:model"] = {
        "provider": "azure_openai",
        "endpoint": "https://mine.openai.azure.com/",
        "deployment": "gpt-4o-mini",
        "resourceId": resource,
    }
    azure = parse_config(values, frozenset()).model.app_settings()
    assert azure[constants.MODEL_ENDPOINT_ENV] == "https://mine.openai.azure.com/"
    values["agentcage:model"] = {
        "provider": "openai",
        "endpoint": "https://llm.example.com/v1",
        "deployment": "gpt-4o-mini",
    }
    openai = parse_config(values, frozenset()).model.app_settings()
    assert openai[constants.MODEL_BASE_URL_ENV] == "https://llm.example.com/v1"
    assert constants.MODEL_ENDPOINT_ENV not in openai


def test_account_sharing_keys_default_to_a_stack_alone_in_its_account() -> None:
    config = parse_config(committed("dev"), frozenset())
    assert config.existing_oidc_provider_arn is None
    assert config.oidc_provider_extra_audiences == ()
    assert config.manage_api_gateway_account is True
    assert config.lambda_.ledger_sweep_minutes == 5


def test_account_sharing_keys_parse_as_the_engine_passes_them() -> None:
    values = committed("prod")
    tenant = values["agentcage:entraTenantId"]
    arn = f"arn:aws:iam::123456789012:oidc-provider/sts.windows.net/{tenant}/"
    values |= {"agentcage:existingOidcProviderArn": arn, "agentcage:manageApiGatewayAccount": "false"}
    config = parse_config(values, frozenset())
    assert (config.existing_oidc_provider_arn, config.manage_api_gateway_account) == (arn, False)
    dev = committed("dev") | {"agentcage:oidcProviderExtraAudiences": '["api://agentcage-prod"]'}
    assert parse_config(dev, frozenset()).oidc_provider_extra_audiences == ("api://agentcage-prod",)


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        (
            "agentcage:existingOidcProviderArn",
            "arn:aws:iam::123456789012:oidc-provider/other/",
            "this tenant",
        ),
        ("agentcage:manageApiGatewayAccount", "sometimes", "true or false"),
        ("agentcage:oidcProviderExtraAudiences", '"api://one"', "a list of app ID URIs"),
        ("agentcage:oidcProviderExtraAudiences", '["not-a-uri"]', "app ID URIs"),
    ],
)
def test_an_invalid_account_sharing_key_fails_naming_it(key: str, value: str, problem: str) -> None:
    error = error_for(committed("dev") | {key: value})
    assert key in str(error)
    assert problem in str(error)


def test_extra_audiences_belong_on_the_stack_that_creates_the_provider() -> None:
    values = committed("prod")
    arn = f"arn:aws:iam::123456789012:oidc-provider/sts.windows.net/{values['agentcage:entraTenantId']}/"
    values |= {
        "agentcage:existingOidcProviderArn": arn,
        "agentcage:oidcProviderExtraAudiences": '["api://agentcage-dev"]',
    }
    assert "agentcage:oidcProviderExtraAudiences" in str(error_for(values))


# --- review findings (issue 11) ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_committed_stacks_reserve_no_lambda_concurrency_and_cap_the_queue_consumers(stack: str) -> None:
    # GIVEN a new AWS account, whose concurrency quota is 10 and all of it must stay unreserved
    config = parse_config(committed(stack), frozenset())
    # THEN no Lambda reserves any, and the queue consumers are capped by their event sources instead
    assert config.lambda_.reserved_concurrency is None
    assert config.lambda_.queue_concurrency.executor >= 2
    assert config.lambda_.queue_concurrency.bridge >= 2


def test_reserved_concurrency_is_optional_and_must_cover_the_queue_ceiling() -> None:
    values = committed("prod")
    values["agentcage:lambda"]["reservedConcurrency"] = {"executor": 60, "bridge": 50, "services": 20}
    reserved = parse_config(values, frozenset()).lambda_.reserved_concurrency
    assert reserved is not None
    assert reserved.executor == 60
    values["agentcage:lambda"]["reservedConcurrency"]["bridge"] = 10  # below queueConcurrency.bridge (50)
    assert "reservedConcurrency.bridge" in str(error_for(values))


@pytest.mark.parametrize("memory", [128, 1024, 1536, 3072, 8192])
def test_instance_memory_accepts_only_the_flex_consumption_sizes(memory: int) -> None:
    from infra.config_models import FLEX_INSTANCE_MEMORY_MB

    assert FLEX_INSTANCE_MEMORY_MB == (512, 2048, 4096)  # the sizes Flex Consumption offers
    values = committed("dev")
    for allowed in FLEX_INSTANCE_MEMORY_MB:
        values["agentcage:functionApp"]["instanceMemoryMb"] = allowed
        assert parse_config(values, frozenset()).function_app.instance_memory_mb == allowed
    values["agentcage:functionApp"]["instanceMemoryMb"] = memory
    assert "agentcage:functionApp.instanceMemoryMb" in str(error_for(values))


def test_the_coordinator_component_refuses_a_size_flex_consumption_rejects() -> None:
    import dataclasses

    from infra.components.coordinator import CoordinatorArgs

    fields = {f.name: None for f in dataclasses.fields(CoordinatorArgs) if f.default is dataclasses.MISSING}
    with pytest.raises(ValueError, match="Flex Consumption"):
        CoordinatorArgs(**{**fields, "maximum_instance_count": 40, "instance_memory_mb": 1024})
    assert CoordinatorArgs(**{**fields, "maximum_instance_count": 40, "instance_memory_mb": 512})


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_committed_stacks_give_the_coordinator_a_model_account_to_be_granted_on(stack: str) -> None:
    model = parse_config(committed(stack), frozenset()).model
    assert model.provider == "azure_openai"
    assert model.create is not None or model.resource_id is not None
    if model.create is not None:
        assert model.create.version  # a pinned model version


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        (
            {
                "provider": "azure_openai",
                "endpoint": "https://x.openai.azure.com/",
                "deployment": "gpt-4o-mini",
            },
            "resourceId",
        ),
        ({"provider": "azure_openai", "deployment": "gpt-4o-mini"}, "create"),
        (
            {
                "provider": "azure_openai",
                "deployment": "gpt-4o-mini",
                "endpoint": "https://x.openai.azure.com/",
                "create": {"model": "gpt-4o-mini", "version": "2024-07-18", "capacity": 10},
            },
            "must not be set",
        ),
        (
            {
                "provider": "openai",
                "endpoint": "https://llm.example.com/v1",
                "deployment": "gpt-4o-mini",
                "create": {"model": "gpt-4o-mini", "version": "2024-07-18", "capacity": 10},
            },
            "azure_openai only",
        ),
    ],
)
def test_an_azure_openai_model_without_a_resource_to_grant_on_is_refused(
    model: dict[str, Any], problem: str
) -> None:
    values = committed("dev") | {"agentcage:model": model}
    error = error_for(values)
    assert "agentcage:model" in str(error)
    assert problem in str(error)


def test_an_existing_azure_openai_account_is_named_by_endpoint_and_resource_id() -> None:
    resource = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/mine"
    model = {
        "provider": "azure_openai",
        "endpoint": "https://mine.openai.azure.com/",
        "deployment": "gpt-4o-mini",
        "resourceId": resource,
    }
    parsed = parse_config(committed("dev") | {"agentcage:model": model}, frozenset()).model
    assert (parsed.resource_id, parsed.create) == (resource, None)


def test_a_federation_audience_must_be_one_entra_accepts() -> None:
    values = committed("dev")
    tenant = values["agentcage:entraTenantId"]
    for accepted in (f"api://{tenant}/agentcage-dev", "https://agentcage-dev.contoso.com"):
        config = parse_config(values | {"agentcage:federationAudience": accepted}, frozenset())
        assert config.federation_audience == accepted
    for refused in ("api://agentcage-dev", f"api://{tenant}/", "urn:agentcage"):
        error = error_for(values | {"agentcage:federationAudience": refused})
        assert "agentcage:federationAudience" in str(error)
