"""Export to Application Insights authenticates as the coordinator's own managed identity."""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.constants import AZURE_CLIENT_ID_ENV, MANAGED_IDENTITY_CLIENT_ID_ENV
from agentcage.errors import ConfigurationError
from agentcage.telemetry import setup
from agentcage.telemetry.log_context import TaskContextLogProcessor

CONNECTION = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://example.invalid/"
)
CLIENT_ID = "5f0c1b2a-0000-4000-8000-00000000c11d"


class _Identity:
    def __init__(self, *, client_id: str | None = None) -> None:
        self.client_id = client_id


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What configure_azure_monitor was called with (nothing is exported)."""
    import azure.identity
    import azure.monitor.opentelemetry

    calls: dict[str, Any] = {}
    monkeypatch.setattr(setup, "_configured", False)
    monkeypatch.setattr(azure.monitor.opentelemetry, "configure_azure_monitor", lambda **kw: calls.update(kw))
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", _Identity)
    return calls


def test_the_exporter_authenticates_as_the_identity_named_by_the_apps_client_id_setting(
    configured: dict[str, Any],
) -> None:
    # GIVEN the app settings infra writes: the connection string and AZURE_CLIENT_ID
    environ = {setup.APPINSIGHTS_CONNECTION_STRING_ENV: CONNECTION, MANAGED_IDENTITY_CLIENT_ID_ENV: CLIENT_ID}

    # WHEN telemetry is configured
    assert setup.configure_telemetry(environ=environ) is True

    # THEN the exporter's credential is that user-assigned identity, and logs pass the context processor
    assert MANAGED_IDENTITY_CLIENT_ID_ENV == "AZURE_CLIENT_ID"
    assert isinstance(configured["credential"], _Identity)
    assert configured["credential"].client_id == CLIENT_ID
    assert configured["logger_name"] == setup.EXPORTED_LOGGER
    assert [type(p) for p in configured["log_record_processors"]] == [TaskContextLogProcessor]


def test_without_the_apps_client_id_export_is_a_configuration_error_not_a_wrong_identity(
    configured: dict[str, Any],
) -> None:
    # GIVEN only the AWS -> Azure bridge's setting, which names another identity
    environ = {setup.APPINSIGHTS_CONNECTION_STRING_ENV: CONNECTION, AZURE_CLIENT_ID_ENV: CLIENT_ID}

    with pytest.raises(ConfigurationError, match=MANAGED_IDENTITY_CLIENT_ID_ENV):
        setup.configure_telemetry(environ=environ)
    assert configured == {}


def test_the_runtimes_own_credential_wins(configured: dict[str, Any]) -> None:
    own = object()

    setup.configure_telemetry(environ={setup.APPINSIGHTS_CONNECTION_STRING_ENV: CONNECTION}, credential=own)

    assert configured["credential"] is own
