"""The configured Entra tenant is compared with the tenant both Azure providers are logged into."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from infra_harness import REPO_ROOT, RUNNER, StackRun

from agentcage.errors import ConfigurationError
from infra.tenant import TENANT_KEY, check_logged_in_tenant

CONFIGURED = "00000000-0000-0000-0000-000000000000"
OTHER = "99999999-8888-7777-6666-555555555555"


def test_matching_tenants_pass_whatever_their_case() -> None:
    check_logged_in_tenant(CONFIGURED, {"azure-native": CONFIGURED, "azuread": CONFIGURED.upper()})


def test_a_provider_in_another_tenant_fails_naming_the_key_the_provider_and_both_tenants() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_logged_in_tenant(CONFIGURED, {"azure-native": CONFIGURED, "azuread": OTHER})
    message = str(caught.value)
    assert TENANT_KEY in message
    assert f"the azuread provider is logged into {OTHER}" in message
    assert CONFIGURED in message
    assert "azure-native provider" not in message
    assert caught.value.details["key"] == TENANT_KEY


def test_the_program_asks_both_providers_which_tenant_they_are_in(run: StackRun) -> None:
    tokens = {call["token"] for call in run.calls}
    assert "azure-native:authorization:getClientConfig" in tokens
    assert "azuread:index/getClientConfig:getClientConfig" in tokens


def test_the_program_stops_before_any_resource_when_logged_into_another_tenant(tmp_path: Path) -> None:
    # GIVEN the mocked providers logged into a tenant other than the committed one
    environ = {
        **os.environ,
        "AGENTCAGE_TEST_LOGGED_IN_TENANT": OTHER,
        "AGENTCAGE_INFRA_DEPENDENCIES_DIR": str(tmp_path / "deps"),
    }
    out = tmp_path / "dev.json"
    # WHEN the program runs
    result = subprocess.run(
        [sys.executable, str(RUNNER), "dev", str(out)],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # THEN it fails with the tenant mismatch, and records nothing
    assert result.returncode != 0
    assert f"{TENANT_KEY}: is {CONFIGURED}, but the azure-native provider is logged into {OTHER}" in (
        result.stdout + result.stderr
    )
    assert not out.exists()
