"""Account-wide singletons: one OIDC provider per issuer per account, one API Gateway logging role per
account and region. dev owns both; prod (same account, see infra_harness) reuses and leaves them alone."""

from __future__ import annotations

import pytest
from infra_harness import StackRun

from agentcage.errors import ConfigurationError
from infra.components.azure_to_aws import check_existing_provider

TENANT_PATH = "sts.windows.net/00000000-0000-0000-0000-000000000000/"
ARN = f"arn:aws:iam::123456789012:oidc-provider/{TENANT_PATH}"
LOOKUP = "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider"


def test_the_owning_stack_creates_and_retains_the_api_gateway_account_setting(
    program_runs: dict[str, StackRun],
) -> None:
    dev, prod = program_runs["dev"], program_runs["prod"]
    (account,) = dev.of_type("aws:apigateway/account:Account")
    role = dev.one("aws:iam/role:Role", "api-cloudwatch-role")
    assert account.inputs["cloudwatchRoleArn"] == role.outputs["arn"]
    # Destroying dev must not leave other stacks' stages logging through a deleted role.
    assert account.retain_on_delete
    assert role.retain_on_delete
    assert dev.one("aws:iam/rolePolicy:RolePolicy", "api-cloudwatch-policy").retain_on_delete
    assert prod.of_type("aws:apigateway/account:Account") == []
    assert [r.name for r in prod.of_type("aws:iam/role:Role") if r.name.startswith("api-")] == []
    assert len(prod.of_type("aws:apigateway/stage:Stage")) == 1  # the stage is still deployed


def test_a_stack_sharing_the_account_looks_the_provider_up_instead_of_creating_it(
    program_runs: dict[str, StackRun],
) -> None:
    prod, dev = program_runs["prod"], program_runs["dev"]
    tenant = prod.config["agentcage:entraTenantId"]
    lookups = [c for c in prod.calls if c["token"] == LOOKUP]
    assert [c["args"]["arn"] for c in lookups] == [
        f"arn:aws:iam::123456789012:oidc-provider/sts.windows.net/{tenant}/"
    ]
    assert prod.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    assert [c for c in dev.calls if c["token"] == LOOKUP] == []


def test_an_existing_provider_is_accepted_only_for_this_issuer_and_audience() -> None:
    assert check_existing_provider(ARN, TENANT_PATH, "api://a", f"https://{TENANT_PATH}", ["api://a"]) == ARN
    assert check_existing_provider(ARN, TENANT_PATH, "api://a", TENANT_PATH, ["x", "api://a"]) == ARN
    with pytest.raises(ConfigurationError, match=r"not https://sts\.windows\.net/0000"):
        check_existing_provider(
            ARN, TENANT_PATH, "api://a", "https://token.actions.githubusercontent.com", ["api://a"]
        )
    with pytest.raises(ConfigurationError, match="does not accept the audience api://b") as caught:
        check_existing_provider(ARN, TENANT_PATH, "api://b", TENANT_PATH, ["api://a"])
    assert caught.value.details["key"] == "agentcage:existingOidcProviderArn"
