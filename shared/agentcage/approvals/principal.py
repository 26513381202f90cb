"""Who is calling: the one place that turns request headers into a :class:`Principal`.

**In the cloud** the caller is App Service Authentication's (Easy Auth) principal. The platform
authenticates the caller and forwards a base64-encoded JSON document in ``X-MS-CLIENT-PRINCIPAL``:
``{"auth_typ": ..., "name_typ": ..., "role_typ": ..., "claims": [{"typ": ..., "val": ...}, ...]}``.
The stable identity is the Entra object id claim (``http://schemas.microsoft.com/identity/claims/
objectidentifier`` or ``oid``); roles are the claims of type ``role_typ`` (``roles`` by default).

The header is trustworthy only behind the platform, which strips any client-sent copy. So the header is
read only when App Service Authentication is verified to be on: the platform sets the app setting
``WEBSITE_AUTH_ENABLED=True`` on an app where it is enabled (:class:`PrincipalSource` reads it once).
Without it, a request carrying the header is refused (401) rather than believed: anyone could write it.

**Persons and applications.** The platform forwards the same header for an app-only token (a daemon,
a managed identity -- the coordinator's own among them). A principal is an application when it

- says so: an ``idtyp`` claim of ``app`` (Entra's optional claim naming the token type), or a subject
  equal to its object id (Entra sets ``sub`` to the object id only for an app; a user's ``sub`` is a
  pairwise id that never equals the ``oid`` GUID); or
- carries no claim only a user has: ``preferred_username``, ``upn`` or ``name`` (ID tokens from the
  sign-in flow), or delegated scopes ``scp`` (a user's access token). An app-only token has none.

Only a person may decide an approval (:meth:`PrincipalSource.person`). An application may create
tasks only when configuration names its app (client) id -- ``appid``, or ``azp`` in v2 tokens -- as a
trusted automation (``AGENTCAGE_TRUSTED_AUTOMATIONS``, comma-separated ids, no secrets); it is then a
principal of kind ``app`` whose id is that client id, and its tasks record it
(:meth:`PrincipalSource.requester`). Any other application is refused (401).

**Locally** there is no platform. The local runtime (``AGENTCAGE_ENVIRONMENT=local``) offers
*development principals* -- a requester, an approver, and a few more for tests -- and only while it
listens on a loopback address (``AGENTCAGE_LOCAL_LISTEN_HOST``, set by the local host). A request
chooses one with the header ``X-Agentcage-Dev-Principal: <id>``; without it, creating and reading act
as the development requester and deciding as the development approver. Every development principal
says it is one (``kind="development"``), and the answers that name it say so too.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from agentcage.constants import (
    DEV_APPROVER_ENV,
    DEV_PRINCIPALS_ENV,
    DEV_REQUESTER_ENV,
    ENVIRONMENT_ENV,
    LOCAL_LISTEN_HOST_ENV,
    TRUSTED_AUTOMATIONS_ENV,
    WEBSITE_AUTH_ENABLED_ENV,
)
from agentcage.errors import AuthenticationError

__all__ = [
    "CLIENT_PRINCIPAL_HEADER",
    "DEFAULT_DEV_APPROVER",
    "DEFAULT_DEV_PRINCIPALS",
    "DEFAULT_DEV_REQUESTER",
    "DEV_PRINCIPAL_HEADER",
    "LOOPBACK_HOST_NAMES",
    "DevelopmentPrincipals",
    "Principal",
    "PrincipalKind",
    "PrincipalSource",
    "dev_principal",
    "header_value",
    "is_loopback",
    "principal_from_header",
]

CLIENT_PRINCIPAL_HEADER: Final = "x-ms-client-principal"
DEV_PRINCIPAL_HEADER: Final = "x-agentcage-dev-principal"
"""Chooses a development principal per request (local runtime on loopback only)."""

DEFAULT_DEV_REQUESTER: Final = "dev-requester:service_rep,operations"
DEFAULT_DEV_APPROVER: Final = "dev-approver:finance"
DEFAULT_DEV_PRINCIPALS: Final = "dev-reviewer:approver; dev-colleague:service_rep; dev-auditor:auditor"
"""Besides the requester and the approver: an approver without the finance role, another requester,
and an auditor (what tests of need-to-know and of who may decide act as)."""

_OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
_NAME_CLAIMS = ("name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
_MAX_HEADER_BYTES = 16 * 1024
_TOKEN_TYPE_CLAIMS = ("idtyp", "http://schemas.microsoft.com/identity/claims/idtyp")
_SUBJECT_CLAIMS = ("sub", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier")
_APP_ID_CLAIMS = ("appid", "azp", "http://schemas.microsoft.com/identity/claims/appid")
_USER_ONLY_CLAIMS = (
    "preferred_username",
    "upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "name",
    "scp",
    "http://schemas.microsoft.com/identity/claims/scope",
)

PrincipalKind = Literal["person", "app", "development"]
DevRole = Literal["requester", "approver"]


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


# --- the platform's header ------------------------------------------------------------------------
def _claims(document: dict[str, Any]) -> list[tuple[str, str]]:
    raw = document.get("claims")
    if not isinstance(raw, list):
        raise AuthenticationError("client principal has no claims list")
    return [
        (claim["typ"], claim["val"])
        for claim in raw
        if isinstance(claim, dict) and isinstance(claim.get("typ"), str) and isinstance(claim.get("val"), str)
    ]


def _decode(value: str | None) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The claims by type and the document of a header value; AuthenticationError when unreadable."""
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
    by_type: dict[str, list[str]] = {}
    for claim_type, claim_value in _claims(document):
        by_type.setdefault(claim_type, []).append(claim_value)
    return by_type, document


def _is_app(by_type: dict[str, list[str]], object_id: str) -> bool:
    """The rule of the module docstring: an app-only token's principal."""
    token_types = {v.strip().lower() for name in _TOKEN_TYPE_CLAIMS for v in by_type.get(name, [])}
    subjects = {v for name in _SUBJECT_CLAIMS for v in by_type.get(name, [])}
    is_app = "app" in token_types or object_id in subjects
    return is_app or not any(by_type.get(name) for name in _USER_ONLY_CLAIMS)


def principal_from_header(value: str | None, *, trusted_apps: frozenset[str] = frozenset()) -> Principal:
    """Decode the platform's client principal; :class:`AuthenticationError` (401) when absent or
    invalid, or when it is an application that ``trusted_apps`` does not name.

    This trusts ``value``: call it only for a header the platform wrote (:class:`PrincipalSource`
    checks that App Service Authentication is on first).
    """
    by_type, document = _decode(value)
    object_id = next((by_type[name][0] for name in _OBJECT_ID_CLAIMS if name in by_type), None)
    if not object_id:
        raise AuthenticationError("client principal carries no object id claim")
    role_type = document.get("role_typ") if isinstance(document.get("role_typ"), str) else "roles"
    roles = tuple(sorted({*by_type.get(str(role_type), []), *by_type.get("roles", [])}))
    provider = document.get("auth_typ") if isinstance(document.get("auth_typ"), str) else "aad"
    if _is_app(by_type, object_id):
        app_id = next((by_type[name][0] for name in _APP_ID_CLAIMS if name in by_type), None)
        if app_id is None or app_id not in trusted_apps:
            raise AuthenticationError(
                "the caller is an application (an app-only token), not a person, and configuration "
                "names it no trusted automation: sign in as a person"
            )
        return Principal(
            id=app_id, name=f"application {app_id}", roles=roles, provider=str(provider), kind="app"
        )
    name = next((by_type[n][0] for n in _NAME_CLAIMS if n in by_type), object_id)
    return Principal(id=object_id, name=name, roles=roles, provider=str(provider))


# --- the local runtime's stand-ins ------------------------------------------------------------------
def dev_principal(spec: str, *, what: str = "development approver") -> Principal:
    """A development principal from ``id[:role,role]`` (e.g. ``dev-approver:finance``)."""
    ident, _, roles = spec.partition(":")
    ident = ident.strip()
    if not ident:
        raise AuthenticationError(f"the {what} needs an id")
    role_list = tuple(sorted({r.strip() for r in roles.split(",") if r.strip()}))
    return Principal(id=ident, name=f"{ident} ({what})", roles=role_list, provider="dev", kind="development")


LOOPBACK_HOST_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")
"""The names a browser on this machine reaches a loopback server by (as a URL's host)."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address to listen on) reaches this machine only."""
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class DevelopmentPrincipals:
    """The local runtime's development principals; a request picks one by id (the module docstring)."""

    requester: Principal
    approver: Principal
    others: tuple[Principal, ...] = ()

    @classmethod
    def from_specs(cls, requester: str, approver: str, others: str = "") -> DevelopmentPrincipals:
        """From ``id:role,role`` specs; ``others`` holds several, separated by ``;``."""
        extra = tuple(
            dev_principal(spec, what="development principal") for spec in others.split(";") if spec.strip()
        )
        return cls(
            dev_principal(requester, what="development requester"),
            dev_principal(approver, what="development approver"),
            extra,
        )

    def all(self) -> dict[str, Principal]:
        """Every development principal by id (the requester and approver win a clash)."""
        chosen = {p.id: p for p in self.others}
        chosen.update({self.approver.id: self.approver, self.requester.id: self.requester})
        return chosen

    def choose(self, wanted: str | None, default: DevRole) -> Principal:
        """The principal ``wanted`` names, else ``default``'s; an unknown id is 401 naming the known."""
        if wanted is None or not wanted.strip():
            return self.requester if default == "requester" else self.approver
        found = self.all().get(wanted.strip())
        if found is None:
            raise AuthenticationError(
                f"no development principal {wanted.strip()[:64]!r}",
                details={"development_principals": sorted(self.all())},
            )
        return found


# --- the source ---------------------------------------------------------------------------------------
def header_value(headers: Mapping[str, Any], name: str) -> str | None:
    """The value of header ``name`` in ``headers``, whatever the case of either (``None`` if absent)."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted and isinstance(value, str):
            return value
    return None


@dataclass(frozen=True, slots=True)
class PrincipalSource:
    """Where a deployment's principals come from: the platform's header, and locally the stand-ins.

    ``platform``: App Service Authentication is on (``WEBSITE_AUTH_ENABLED=True``), so the header is
    the platform's. ``development``: the local runtime's principals (``None`` anywhere else).
    """

    platform: bool = False
    trusted_apps: frozenset[str] = frozenset()
    development: DevelopmentPrincipals | None = None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        environment: str | None = None,
        dev_approver: str | None = None,
    ) -> PrincipalSource:
        """The source the app settings describe (the module docstring says which and when)."""
        env = os.environ if environ is None else environ
        platform = (env.get(WEBSITE_AUTH_ENABLED_ENV) or "").strip().lower() == "true"
        trusted = frozenset(
            part.strip() for part in (env.get(TRUSTED_AUTOMATIONS_ENV) or "").split(",") if part.strip()
        )
        where = (environment or env.get(ENVIRONMENT_ENV) or "").strip().lower()
        development = None
        if not platform and where == "local" and is_loopback(env.get(LOCAL_LISTEN_HOST_ENV)):
            others = env.get(DEV_PRINCIPALS_ENV)
            development = DevelopmentPrincipals.from_specs(
                env.get(DEV_REQUESTER_ENV) or DEFAULT_DEV_REQUESTER,
                dev_approver or env.get(DEV_APPROVER_ENV) or DEFAULT_DEV_APPROVER,
                DEFAULT_DEV_PRINCIPALS if others is None else others,
            )
        return cls(platform=platform, trusted_apps=trusted, development=development)

    def requester(self, headers: Mapping[str, Any]) -> Principal:
        """Who creates a task: a signed-in person, a trusted automation, or the development requester."""
        return self._principal(headers, default="requester", apps=True)

    def reader(self, headers: Mapping[str, Any], *, default: DevRole = "requester") -> Principal:
        """Who reads: like :meth:`requester` (an automation reads its own tasks)."""
        return self._principal(headers, default=default, apps=True)

    def person(self, headers: Mapping[str, Any]) -> Principal:
        """Who decides an approval: a signed-in person, or the development approver; never an app."""
        return self._principal(headers, default="approver", apps=False)

    def _principal(self, headers: Mapping[str, Any], *, default: DevRole, apps: bool) -> Principal:
        value = header_value(headers, CLIENT_PRINCIPAL_HEADER)
        if self.platform:
            return principal_from_header(value, trusted_apps=self.trusted_apps if apps else frozenset())
        if value:
            raise AuthenticationError(
                "App Service Authentication is not enabled on this app (WEBSITE_AUTH_ENABLED is not True), "
                "so X-MS-CLIENT-PRINCIPAL is not trusted"
            )
        if self.development is not None:
            return self.development.choose(header_value(headers, DEV_PRINCIPAL_HEADER), default)
        raise AuthenticationError("no authenticated principal: sign in through App Service Authentication")
