"""What counts as a secret in an app setting or a Lambda environment variable.

Identity-based settings (``<CONNECTION>__fullyQualifiedNamespace``, ``__credential``, ``__clientId``)
and Key Vault references pass; keys, SAS tokens, passwords and connection strings do not. The one
documented exception is ``APPLICATIONINSIGHTS_CONNECTION_STRING`` when it holds nothing but the
instrumentation key and endpoints (an identifier, not a credential: with local auth disabled on the
component, ingestion needs an Entra token).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["APP_INSIGHTS_CONNECTION_SETTING", "settings_of", "secret_like_settings"]

APP_INSIGHTS_CONNECTION_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
# An App Insights connection string names endpoints and the instrumentation key (an identifier, not a
# credential); with local auth disabled, ingestion needs an Entra token. Nothing else may appear in it.
_APP_INSIGHTS_FIELDS = frozenset({"InstrumentationKey", "IngestionEndpoint", "LiveEndpoint", "ApplicationId"})
_SECRET_VALUE = re.compile(
    r"(AccountKey=|SharedAccessKey=|SharedAccessSignature=|[?&]sig=|Password=|pwd=|"
    r"DefaultEndpointsProtocol=|-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16})",
    re.IGNORECASE,
)
_SECRET_NAME = re.compile(
    r"(PASSWORD|SECRET|ACCESS_KEY|ACCOUNT_KEY|SAS_TOKEN|CONNECTION_STRING|_KEY$)", re.IGNORECASE
)
_KEY_VAULT_REFERENCE = re.compile(r"^@Microsoft\.KeyVault\(SecretUri=https://[^)]+\)$")


def settings_of(resource_type: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """App settings of a Function/Web App, or environment variables of a Lambda."""
    # azure-native takes app settings as siteConfig.appSettings, a list of {name, value} pairs; a
    # Lambda's are environment.variables, a map. Anything else there (absent, or not known until
    # apply during a preview) holds no setting to check yet.
    if resource_type == "azure-native:web:WebApp":
        pairs = _mapping(props.get("siteConfig")).get("appSettings")
        if not isinstance(pairs, Sequence) or isinstance(pairs, str):
            return {}
        return {str(p.get("name")): p.get("value") for p in pairs if isinstance(p, Mapping)}
    if resource_type == "aws:lambda/function:Function":
        return dict(_mapping(_mapping(props.get("environment")).get("variables")))
    return {}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _app_insights_string_is_identifier_only(value: str) -> bool:
    fields = dict(part.split("=", 1) for part in value.split(";") if "=" in part)
    return set(fields) <= _APP_INSIGHTS_FIELDS


def secret_like_settings(settings: Mapping[str, Any]) -> list[str]:
    """Settings that look like a key, SAS, password or connection string."""
    problems = []
    for name, value in settings.items():
        if not isinstance(value, str):
            continue
        if name == APP_INSIGHTS_CONNECTION_SETTING:
            if not _app_insights_string_is_identifier_only(value):
                problems.append(f"{name}: holds more than the instrumentation key and endpoints")
            continue
        if _KEY_VAULT_REFERENCE.match(value):
            continue  # a reference resolved by the platform with the app's identity
        if _SECRET_VALUE.search(value):
            problems.append(f"{name}: value looks like a key, SAS, password or connection string")
        elif _SECRET_NAME.search(name):
            problems.append(f"{name}: a secret-looking setting name")
    return problems
