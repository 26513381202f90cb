"""Turn on export to Application Insights when the Function App is configured for it.

Only when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set. The connection string names the ingestion
endpoint; it is not a credential: the Application Insights resource has local authentication
disabled, so ingestion is authorised with an Entra token of the coordinator's own user-assigned
managed identity. That identity is the ``credential`` the runtime passes (the one it sends and reads
with), or else the managed identity whose client id is in the app setting infra writes for it,
``AZURE_CLIENT_ID`` (:data:`agentcage.constants.MANAGED_IDENTITY_CLIENT_ID_ENV`). The app has no
system-assigned identity, so without that client id export could never authenticate: that is a
configuration error, said at start-up, not telemetry silently refused later.

Every log record the exporter ships carries the bound task context
(:class:`agentcage.telemetry.log_context.TaskContextLogProcessor`). Idempotent: a warm Functions
worker configures once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from agentcage.constants import MANAGED_IDENTITY_CLIENT_ID_ENV
from agentcage.errors import ConfigurationError

__all__ = [
    "APPINSIGHTS_CONNECTION_STRING_ENV",
    "EXPORTED_LOGGER",
    "configure_telemetry",
    "log_record_processors",
]

APPINSIGHTS_CONNECTION_STRING_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
EXPORTED_LOGGER = "agentcage"
"""The logger (and its children) whose records are exported: the library's and the functions' own."""

_log = logging.getLogger("agentcage.telemetry")
_configured = False


def log_record_processors() -> list[Any]:
    """The processors every exported log record passes before the exporter (the task context)."""
    from agentcage.telemetry.log_context import TaskContextLogProcessor

    return [TaskContextLogProcessor()]


def _own_identity(client_id: str | None, environ: Mapping[str, str]) -> Any:
    client_id = client_id or environ.get(MANAGED_IDENTITY_CLIENT_ID_ENV)
    if not client_id:
        raise ConfigurationError(
            f"{APPINSIGHTS_CONNECTION_STRING_ENV} is set but {MANAGED_IDENTITY_CLIENT_ID_ENV} is not: "
            "telemetry export authenticates as the coordinator's user-assigned managed identity"
        )
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id)


def configure_telemetry(
    *,
    connection_string: str | None = None,
    credential: Any | None = None,
    client_id: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Configure azure-monitor-opentelemetry once; return whether export is on.

    ``credential`` (the coordinator's own identity) wins; else a ``ManagedIdentityCredential`` for
    ``client_id``, or for the client id in ``AZURE_CLIENT_ID``.
    """
    global _configured  # noqa: PLW0603 - one exporter per process, as the Azure Monitor distro expects
    if _configured:
        return True
    env = os.environ if environ is None else environ
    connection_string = connection_string or env.get(APPINSIGHTS_CONNECTION_STRING_ENV)
    if not connection_string:
        return False
    if credential is None:
        credential = _own_identity(client_id, env)
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=connection_string,
        credential=credential,
        logger_name=EXPORTED_LOGGER,
        log_record_processors=log_record_processors(),
        enable_live_metrics=False,
    )
    _configured = True
    _log.info("Application Insights export configured")
    return True
