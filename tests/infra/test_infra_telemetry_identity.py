"""The Function App has the one setting telemetry export reads for the coordinator's own identity."""

from __future__ import annotations

from infra_harness import StackRun

from agentcage.constants import MANAGED_IDENTITY_CLIENT_ID_ENV
from agentcage.telemetry import APPINSIGHTS_CONNECTION_STRING_ENV


def _app_settings(run: StackRun) -> dict[str, object]:
    [app] = run.of_type("azure-native:web:WebApp")
    return {pair["name"]: pair.get("value") for pair in app.inputs["siteConfig"]["appSettings"]}


def test_the_app_names_its_user_assigned_identity_under_the_setting_telemetry_reads(run: StackRun) -> None:
    settings = _app_settings(run)

    # The exporter authenticates as the identity the Service Bus connections use: the app's own.
    assert APPINSIGHTS_CONNECTION_STRING_ENV in settings
    assert settings[MANAGED_IDENTITY_CLIENT_ID_ENV]
    assert settings[MANAGED_IDENTITY_CLIENT_ID_ENV] == settings["SERVICEBUS__clientId"]
    assert "AGENTCAGE_AZURE_CLIENT_ID" not in settings  # the AWS -> Azure bridge's app, not this identity
