"""Bearer tokens for the coordinator's API: none locally, an Entra access token in the cloud.

The deployed routes sit behind App Service Authentication, which wants an access token for the
coordinator's API scope (the stack output ``coordinator_scope``, e.g. ``api://agentcage-dev-coordinator/
tasks``). The Azure CLI is pre-authorised for that scope, so the signed-in ``az`` user gets one without
a consent prompt; that user is also the approver the coordinator records, and only a person may approve
(an app-only token is refused with 401).

Why ``az account get-access-token --scope`` and not azure-identity's ``AzureCliCredential``: that
credential turns a scope into a v1 ``--resource`` (``api://.../tasks`` stays ``api://.../tasks``), which
Entra does not know as a resource. :func:`credential_token_source` takes any azure-identity credential
(``DefaultAzureCredential`` for a signed-in developer tool, an interactive browser credential) for
callers who do not use the CLI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agentcage.errors import AuthenticationError
from infra.smoke.commands import CommandRunner

__all__ = ["TokenSource", "no_token", "azure_cli_token_source", "credential_token_source"]

TokenSource = Callable[[], str | None]
"""Returns the bearer token to send (``None``: send no ``Authorization`` header)."""

_REFRESH_MARGIN_S = 300


def no_token() -> str | None:
    """The local runtime: no platform in front; the development approver stands in and says so."""
    return None


def _cached(fetch: Callable[[], tuple[str, float]], clock: Callable[[], float]) -> TokenSource:
    """Call ``fetch`` (token, expires-at epoch seconds) again only five minutes before expiry."""
    cached: dict[str, Any] = {}

    def token() -> str | None:
        if not cached or clock() > cached["expires_on"] - _REFRESH_MARGIN_S:
            value, expires_on = fetch()
            cached.update(token=value, expires_on=expires_on)
        return str(cached["token"])

    return token


def azure_cli_token_source(
    scope: str, run: CommandRunner, *, clock: Callable[[], float] = time.time
) -> TokenSource:
    """Tokens for ``scope`` from the Azure CLI's signed-in user."""

    def fetch() -> tuple[str, float]:
        answer = json.loads(run(["az", "account", "get-access-token", "--scope", scope, "--output", "json"]))
        value = answer.get("accessToken") if isinstance(answer, dict) else None
        if not value:
            raise AuthenticationError(f"az returned no access token for {scope}")
        if "expires_on" in answer:  # epoch seconds (az 2.54+)
            return str(value), float(answer["expires_on"])
        # Older az: local time, "2025-01-01 12:00:00.000000".
        return str(value), datetime.fromisoformat(str(answer["expiresOn"])).timestamp()

    return _cached(fetch, clock)


def credential_token_source(
    scope: str, credential: Any | None = None, *, clock: Callable[[], float] = time.time
) -> TokenSource:
    """Tokens for ``scope`` from an azure-identity credential (default ``DefaultAzureCredential``)."""
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(exclude_managed_identity_credential=True)

    def fetch() -> tuple[str, float]:
        fresh = credential.get_token(scope)
        return str(fresh.token), float(fresh.expires_on)

    return _cached(fetch, clock)
