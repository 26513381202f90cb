"""Who is calling: the platform's header only behind App Service Authentication, trusted automations,
and the development principals only locally on loopback."""

from __future__ import annotations

import base64
import json

import pytest

from agentcage.approvals import DEV_PRINCIPAL_HEADER, PrincipalSource, is_loopback
from agentcage.errors import AuthenticationError

LOCAL = {"AGENTCAGE_ENVIRONMENT": "local", "AGENTCAGE_LOCAL_LISTEN_HOST": "127.0.0.1"}


def _header(*claims: tuple[str, str]) -> dict[str, str]:
    document = {"auth_typ": "aad", "role_typ": "roles", "claims": [{"typ": t, "val": v} for t, v in claims]}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(document).encode()).decode()}


PERSON = _header(("oid", "oid-rita"), ("name", "Rita"), ("roles", "finance"))
APP = _header(("oid", "sp-oid-1"), ("sub", "sp-oid-1"), ("appid", "11111111-aaaa"), ("roles", "service_rep"))


def test_the_header_is_trusted_only_when_app_service_authentication_is_enabled() -> None:
    enabled = PrincipalSource.from_env({"WEBSITE_AUTH_ENABLED": "True"})
    disabled = PrincipalSource.from_env({})

    assert enabled.requester(PERSON).id == "oid-rita"
    with pytest.raises(AuthenticationError) as caught:
        disabled.requester(PERSON)
    assert "WEBSITE_AUTH_ENABLED" in caught.value.message
    assert caught.value.status == 401


def test_without_a_principal_creating_a_task_is_unauthenticated() -> None:
    with pytest.raises(AuthenticationError):
        PrincipalSource.from_env({"WEBSITE_AUTH_ENABLED": "True"}).requester({})


def test_an_app_only_token_creates_tasks_only_as_a_configured_trusted_automation() -> None:
    untrusted = PrincipalSource.from_env({"WEBSITE_AUTH_ENABLED": "True"})
    trusted = PrincipalSource.from_env(
        {"WEBSITE_AUTH_ENABLED": "true", "AGENTCAGE_TRUSTED_AUTOMATIONS": " other , 11111111-aaaa"}
    )

    with pytest.raises(AuthenticationError):
        untrusted.requester(APP)
    app = trusted.requester(APP)
    assert (app.kind, app.id, app.roles) == ("app", "11111111-aaaa", ("service_rep",))
    with pytest.raises(AuthenticationError):  # an app never decides an approval, trusted or not
        trusted.person(APP)


def test_locally_on_loopback_the_development_principals_are_chosen_per_request() -> None:
    source = PrincipalSource.from_env(LOCAL)

    assert source.requester({}).id == "dev-requester"
    assert source.person({}).id == "dev-approver"
    chosen = source.person({DEV_PRINCIPAL_HEADER: "dev-reviewer"})
    assert (chosen.id, chosen.roles, chosen.development) == ("dev-reviewer", ("approver",), True)
    with pytest.raises(AuthenticationError) as caught:
        source.requester({"X-Agentcage-Dev-Principal": "nobody"})
    assert "dev-auditor" in caught.value.details["development_principals"]


@pytest.mark.parametrize(
    "environ",
    [
        {"AGENTCAGE_ENVIRONMENT": "local", "AGENTCAGE_LOCAL_LISTEN_HOST": "0.0.0.0"},
        {"AGENTCAGE_ENVIRONMENT": "local"},  # where it listens unknown
        {"AGENTCAGE_ENVIRONMENT": "dev", "AGENTCAGE_LOCAL_LISTEN_HOST": "127.0.0.1"},
        {**LOCAL, "WEBSITE_AUTH_ENABLED": "True"},  # the platform's principal wins
    ],
)
def test_the_development_principals_exist_only_locally_on_loopback(environ: dict[str, str]) -> None:
    source = PrincipalSource.from_env(environ)

    assert source.development is None
    with pytest.raises(AuthenticationError):
        source.requester({DEV_PRINCIPAL_HEADER: "dev-requester"})


def test_locally_a_client_principal_header_is_refused_not_believed() -> None:
    with pytest.raises(AuthenticationError):
        PrincipalSource.from_env(LOCAL).requester(PERSON)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.4", False), ("example.com", False), ("", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
