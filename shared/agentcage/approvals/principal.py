"""Who is approving: App Service Authentication's ``X-MS-CLIENT-PRINCIPAL`` header.

The platform (Easy Auth) authenticates the caller and forwards a base64-encoded JSON document:
``{"auth_typ": ..., "name_typ": ..., "role_typ": ..., "claims": [{"typ": ..., "val": ...}, ...]}``.
The stable identity is the Entra object id claim (``http://schemas.microsoft.com/identity/claims/
objectidentifier`` or ``oid``); roles are the claims of type ``role_typ`` (``roles`` by default).
The header is trustworthy only behind the platform, which strips any client-sent copy; the coordinator
therefore reads it only when App Service Authentication is enabled (infra turns it on).

Only a person may approve. The platform forwards the same header for an app-only token (a daemon, a
managed identity -- the coordinator's own among them), so :func:`principal_from_header` refuses, with
:class:`AuthenticationError` (401: sign in as a person), a principal that

- says it is an application: an ``idtyp`` claim of ``app`` (Entra's optional claim naming the token
  type), or a subject equal to its object id (Entra sets ``sub`` to the object id only for an app;
  a user's ``sub`` is a pairwise id that never equals the ``oid`` GUID); or
- carries no claim only a user has: ``preferred_username``, ``upn`` or ``name`` (ID tokens from the
  sign-in flow), or delegated scopes ``scp`` (a user's access token). An app-only token has none.

In the local runtime there is no platform: a configured development approver stands in and says so.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from agentcage.errors import AuthenticationError

__all__ = ["CLIENT_PRINCIPAL_HEADER", "Principal", "PrincipalKind", "dev_principal", "principal_from_header"]

CLIENT_PRINCIPAL_HEADER = "x-ms-client-principal"
_OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
_NAME_CLAIMS = ("name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
_MAX_HEADER_BYTES = 16 * 1024
_TOKEN_TYPE_CLAIMS = ("idtyp", "http://schemas.microsoft.com/identity/claims/idtyp")
_SUBJECT_CLAIMS = ("sub", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier")
_USER_ONLY_CLAIMS = (
    "preferred_username",
    "upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "name",
    "scp",
    "http://schemas.microsoft.com/identity/claims/scope",
)


PrincipalKind = Literal["person", "app", "development"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a person, a trusted automation (``kind="app"``), or a local stand-in."""

    id: str
    name: str
    roles: tuple[str, ...] = field(default_factory=tuple)
    provider: str = "aad"
    kind: PrincipalKind = "person"

    @property
    def development(self) -> bool:
        """True for the local runtime's development principals (never a signed-in person)."""
        return self.kind == "development"


def _claims(document: dict[str, Any]) -> list[tuple[str, str]]:
    raw = document.get("claims")
    if not isinstance(raw, list):
        raise AuthenticationError("client principal has no claims list")
    return [
        (claim["typ"], claim["val"])
        for claim in raw
        if isinstance(claim, dict) and isinstance(claim.get("typ"), str) and isinstance(claim.get("val"), str)
    ]


def principal_from_header(value: str | None) -> Principal:
    """Decode the platform's client principal; :class:`AuthenticationError` (401) when absent or invalid."""
    if not value:
        raise AuthenticationError("no authenticated principal: sign in through App Service Authentication")
    if len(value) > _MAX_HEADER_BYTES:
        raise AuthenticationError("client principal header is too large")
    try:
        document = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise AuthenticationError("client principal header is not base64-encoded JSON") from error
    if not isinstance(document, dict):
        raise AuthenticationError("client principal is not a JSON object")
    claims = _claims(document)
    role_type = document.get("role_typ") if isinstance(document.get("role_typ"), str) else "roles"
    by_type: dict[str, list[str]] = {}
    for claim_type, claim_value in claims:
        by_type.setdefault(claim_type, []).append(claim_value)
    object_id = next((by_type[name][0] for name in _OBJECT_ID_CLAIMS if name in by_type), None)
    if not object_id:
        raise AuthenticationError("client principal carries no object id claim")
    _require_person(by_type, object_id)
    name = next((by_type[n][0] for n in _NAME_CLAIMS if n in by_type), object_id)
    roles = tuple(sorted({*by_type.get(str(role_type), []), *by_type.get("roles", [])}))
    provider = document.get("auth_typ") if isinstance(document.get("auth_typ"), str) else "aad"
    return Principal(id=object_id, name=name, roles=roles, provider=str(provider))


def _require_person(by_type: dict[str, list[str]], object_id: str) -> None:
    """Refuse an application's principal (the rule in the module docstring)."""
    token_types = {v.strip().lower() for name in _TOKEN_TYPE_CLAIMS for v in by_type.get(name, [])}
    subjects = {v for name in _SUBJECT_CLAIMS for v in by_type.get(name, [])}
    is_app = "app" in token_types or object_id in subjects
    if is_app or not any(by_type.get(name) for name in _USER_ONLY_CLAIMS):
        raise AuthenticationError(
            "the caller is an application (an app-only token), not a person: only a signed-in user "
            "may decide an approval"
        )


def dev_principal(spec: str) -> Principal:
    """The local runtime's stand-in approver from ``id[:role,role]`` (e.g. ``dev-approver:finance``)."""
    ident, _, roles = spec.partition(":")
    ident = ident.strip()
    if not ident:
        raise AuthenticationError("the development approver needs an id")
    role_list = tuple(sorted({r.strip() for r in roles.split(",") if r.strip()}))
    return Principal(
        id=ident, name=f"{ident} (development approver)", roles=role_list, provider="dev", kind="development"
    )
