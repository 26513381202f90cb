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
