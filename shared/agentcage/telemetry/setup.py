"""Turn on export to Application Insights when the Function App is configured for it.

Only when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set. The connection string names the ingestion
endpoint; it is not a credential: the Application Insights resource has local authentication
disabled, so ingestion is authorised with the Function App's managed identity (Entra), passed here as
the exporter's ``credential``. Idempotent: a warm Functions worker configures once.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from agentcage.constants import AZURE_CLIENT_ID_ENV

__all__ = ["APPINSIGHTS_CONNECTION_STRING_ENV", "configure_telemetry"]

APPINSIGHTS_CONNECTION_STRING_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
_log = logging.getLogger("agentcage.telemetry")
_configured = False


def configure_telemetry(*, connection_string: str | None = None, credential: Any | None = None) -> bool:
    """Configure azure-monitor-opentelemetry once; return whether export is on."""
    global _configured  # noqa: PLW0603 - one exporter per process, as the Azure Monitor distro expects
    if _configured:
        return True
    connection_string = connection_string or os.environ.get(APPINSIGHTS_CONNECTION_STRING_ENV)
    if not connection_string:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    if credential is None:
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=os.environ.get(AZURE_CLIENT_ID_ENV))
    configure_azure_monitor(
        connection_string=connection_string,
        credential=credential,
        logger_name="agentcage",
        enable_live_metrics=False,
    )
    _configured = True
    _log.info("Application Insights export configured")
    return True
