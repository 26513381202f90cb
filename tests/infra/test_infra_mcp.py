"""The MCP gateway in the cloud: behind App Service Authentication, told its issuer, no secret."""

from __future__ import annotations

import json

from agentcage.constants import MCP_AUTHORIZATION_SERVER_ENV, MCP_CALLERS_ENV
from tests.infra.infra_harness import StackRun


def _settings(run: StackRun) -> dict[str, str]:
    (app,) = run.of_type("azure-native:web:WebApp")
    pairs = app.inputs["siteConfig"]["appSettings"]
    return {pair["name"]: pair["value"] for pair in pairs}


def test_the_mcp_gateway_names_the_tenants_issuer_and_lets_nobody_in_unconfigured(run: StackRun) -> None:
    settings = _settings(run)
    tenant = run.config["agentcage:entraTenantId"]
    # The protected-resource metadata points clients at the tenant's Entra issuer, whose tokens App
    # Service Authentication validates in front of /api/mcp/{agent}.
    assert settings[MCP_AUTHORIZATION_SERVER_ENV] == f"https://login.microsoftonline.com/{tenant}/v2.0"
    # No caller is mapped to an agent until the stack is configured to: an empty mapping.
    assert json.loads(settings[MCP_CALLERS_ENV]) == {}
    # No setting holds a credential for it (the callers' tokens never reach the app's settings).
    assert not [name for name in settings if "MCP" in name and ("SECRET" in name or "KEY" in name)]
