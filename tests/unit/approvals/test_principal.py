"""The approver's identity from App Service Authentication's client principal header."""

from __future__ import annotations

import base64
import json

import pytest

from agentcage.approvals import dev_principal, principal_from_header
from agentcage.errors import AuthenticationError


def _header(document: object) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def test_entra_principal_is_read_from_object_id_name_and_roles() -> None:
    header = _header(
        {
            "auth_typ": "aad",
            "name_typ": "name",
            "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
            "claims": [
                {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "3f1c-oid"},
                {"typ": "name", "val": "Rita Approver"},
                {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": "finance"},
                {"typ": "roles", "val": "service_rep"},
            ],
        }
    )

    principal = principal_from_header(header)

    assert (principal.id, principal.name, principal.roles) == (
        "3f1c-oid",
        "Rita Approver",
        ("finance", "service_rep"),
    )
    assert principal.development is False


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "not base64!",
        _header([1, 2]),
        _header({"claims": "x"}),
        _header({"claims": [{"typ": "name", "val": "x"}]}),
    ],
)
def test_missing_or_invalid_principal_is_unauthenticated(header: str | None) -> None:
    with pytest.raises(AuthenticationError) as caught:
        principal_from_header(header)
    assert caught.value.status == 401


def test_dev_principal_says_it_is_one() -> None:
    principal = dev_principal("dev-approver:finance, ops")

    assert principal.id == "dev-approver"
    assert principal.roles == ("finance", "ops")
    assert principal.development is True
    assert "development approver" in principal.name


_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_APP_OID = "7b1e3c55-0000-4000-8000-0000000000aa"


def _claims(*claims: tuple[str, str]) -> str:
    return _header(
        {"auth_typ": "aad", "role_typ": "roles", "claims": [{"typ": t, "val": v} for t, v in claims]}
    )


@pytest.mark.parametrize(
    "header",
    [
        # a managed identity's or daemon's token as the platform forwards it: object id, roles, app id
        _claims((_OID, _APP_OID), ("roles", "finance"), ("appid", "c0ffee00-app"), ("azp", "c0ffee00-app")),
        # Entra's optional token-type claim says app, whatever else it carries
        _claims((_OID, _APP_OID), ("idtyp", "app"), ("name", "looks like a person")),
        # an app's subject is its object id (a user's is a pairwise id)
        _claims(("oid", _APP_OID), ("sub", _APP_OID), ("preferred_username", "svc@contoso.example")),
        _claims(
            (_OID, _APP_OID),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", _APP_OID),
            ("name", "svc"),
        ),
    ],
)
def test_an_app_only_principal_cannot_approve(header: str) -> None:
    with pytest.raises(AuthenticationError, match="application"):
        principal_from_header(header)


@pytest.mark.parametrize(
    "claims",
    [
        # signed in through the browser (ID token claims)
        (
            (_OID, "5a9e-user"),
            ("sub", "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"),
            ("name", "Rita Reviewer"),
        ),
        # a user's access token: delegated scopes and a upn, token type user
        (
            ("oid", "5a9e-user"),
            ("idtyp", "user"),
            ("scp", "user_impersonation"),
            ("upn", "rita@contoso.example"),
        ),
        (
            (_OID, "5a9e-user"),
            ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "rita@contoso.example"),
        ),
    ],
)
def test_a_signed_in_user_is_an_approver(claims: tuple[tuple[str, str], ...]) -> None:
    assert principal_from_header(_claims(*claims)).id == "5a9e-user"
