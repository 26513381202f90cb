"""The roles the code reads reach it: each is an app role of the coordinator's API that people are
assigned, and the app settings that give them meaning come from ``agentcage:access`` (the code's own
defaults when unset), so the registration and the code can never name different roles."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import yaml
from infra_harness import REPO_ROOT, StackRun

from agentcage.approvals.principal import PrincipalSource
from agentcage.constants import (
    APPROVER_ROLES_ENV,
    AUDITOR_ROLES_ENV,
    REQUESTER_AUTHORITY_ENV,
    TRUSTED_AUTOMATIONS_ENV,
)
from agentcage.coordinator.access import DEFAULT_APPROVER_ROLES, DEFAULT_AUDITOR_ROLES, AccessRules
from agentcage.errors import ConfigurationError
from agentcage.policy.authority import DEFAULT_ROLE_AUTHORITY, RequesterAuthority
from infra.components.coordinator_auth import app_role_id
from infra.config import parse_config

KEY = "agentcage:access"
AUTOMATION = "0A0B0C0D-1111-2222-3333-444455556666"
_SETTINGS = (APPROVER_ROLES_ENV, AUDITOR_ROLES_ENV, REQUESTER_AUTHORITY_ENV, TRUSTED_AUTOMATIONS_ENV)


def _committed(stack: str = "dev") -> dict[str, Any]:
    return dict(yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"])


def _settings(run: StackRun) -> dict[str, str]:
    (app,) = run.of_type("azure-native:web:WebApp")
    return {pair["name"]: pair["value"] for pair in app.inputs["siteConfig"]["appSettings"]}


def _roles_the_code_reads(settings: dict[str, str]) -> set[str]:
    """Read back the way the deployed code reads them: every role it gives a meaning to."""
    rules = AccessRules.from_env(settings)
    authority = RequesterAuthority.from_env(settings)
    return {*rules.approver_roles, *rules.auditor_roles, *authority.roles}


def _error(raw: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(_committed() | {KEY: raw}, frozenset())
    return caught.value


# --- the configuration ------------------------------------------------------------------------------
def test_unset_the_settings_say_what_the_code_assumes() -> None:
    settings = parse_config(_committed(), frozenset()).access.app_settings()

    rules = AccessRules.from_env(settings)
    assert rules.approver_roles == frozenset(DEFAULT_APPROVER_ROLES)
    assert rules.auditor_roles == frozenset(DEFAULT_AUDITOR_ROLES)
    assert RequesterAuthority.from_env(settings).roles == dict(DEFAULT_ROLE_AUTHORITY)
    assert PrincipalSource.from_env({**settings, "WEBSITE_AUTH_ENABLED": "True"}).trusted_apps == frozenset()


def test_configured_access_reaches_the_code_in_the_form_it_reads() -> None:
    # GIVEN the key as the engine hands structured values (JSON), camelCase like every other key
    raw = json.dumps(
        {
            "approverRoles": ["clerk"],
            "auditorRoles": ["sox"],
            "requesterAuthority": {"agent_desk": {"refund_limit_cents": 500, "environments": ["QA", "dev"]}},
            "trustedAutomations": [AUTOMATION],
        }
    )
    access = parse_config(_committed() | {KEY: raw}, frozenset()).access
    settings = access.app_settings()

    assert AccessRules.from_env(settings) == AccessRules(frozenset({"clerk"}), frozenset({"sox"}))
    desk = RequesterAuthority.from_env(settings).of(["agent_desk"])
    assert (desk.refund_limit_cents, desk.environments) == (500, frozenset({"qa", "dev"}))
    source = PrincipalSource.from_env({**settings, "WEBSITE_AUTH_ENABLED": "True"})
    assert source.trusted_apps == frozenset({AUTOMATION.lower()})  # Entra ids as the tokens carry them
    # AND the app roles are exactly the roles those settings name, each described
    assert access.role_names() == ("agent_desk", "clerk", "sox")
    assert all(access.role_descriptions().values())


def test_the_settings_do_not_change_between_runs() -> None:
    # A set in the authority document (environments) is written in one order, so an unchanged stack
    # never updates the app.
    first = parse_config(_committed(), frozenset()).access.app_settings()
    again = parse_config(_committed(), frozenset()).access.app_settings()
    assert first == again
    envs = json.loads(first[REQUESTER_AUTHORITY_ENV])["roles"]["operations"]["environments"]
    assert envs == sorted(envs)


@pytest.mark.parametrize(
    ("raw", "where", "problem"),
    [
        ({"approverRoles": []}, "approverRoles", "at least 1"),  # nobody could decide anything
        ({"auditorRoles": ["two words"]}, "auditorRoles.0", "pattern"),  # no space in a role claim
        ({"approverRoles": ["a,b"]}, "approverRoles.0", "pattern"),  # the setting is comma-separated
        ({"approverRoles": ["tasks"]}, "access", "scope name"),  # shares Entra's namespace with the scope
        ({"trustedAutomations": ["my-daemon"]}, "trustedAutomations.0", "pattern"),  # a client id
        ({"requesterAuthority": {"rep": {"refundLimit": 5}}}, "requesterAuthority.rep.refundLimit", "Extra"),
        ({"approverRole": ["x"]}, "approverRole", "Extra"),  # a typo is named, not ignored
    ],
)
def test_bad_access_fails_naming_the_key(raw: Any, where: str, problem: str) -> None:
    error = _error(json.dumps(raw))
    assert error.message.startswith(f"config {KEY}" if where == "access" else f"config {KEY}.{where}")
    assert problem.lower() in error.message.lower()


# --- the deployed stack -----------------------------------------------------------------------------
def test_every_role_the_code_reads_is_an_app_role_people_are_assigned(run: StackRun) -> None:
    api = run.one("azuread:index/application:Application", "coordinator-auth-api")
    roles = {role["value"]: role for role in api.inputs["appRoles"]}

    assert set(roles) == _roles_the_code_reads(_settings(run))
    assert set(roles) >= {"service_rep", "support_lead", "finance", "operations", "approver", "auditor"}
    for value, role in roles.items():
        assert role["allowedMemberTypes"] == ["User"]  # people, not applications
        assert role["enabled"] is True
        assert role["description"]
        # a stable uuid5 per stack and role: a re-run never tries to change an enabled role's id
        assert role["id"] == app_role_id(f"agentcage-{run.stack}", value)
        assert uuid.UUID(role["id"]).version == 5
    # no role collides with the delegated scope (Entra keeps one namespace for both)
    scopes = {scope["value"] for scope in api.inputs["api"]["oauth2PermissionScopes"]}
    assert not scopes & set(roles)


def test_the_app_settings_are_the_stacks_access_with_the_codes_defaults(run: StackRun) -> None:
    settings = _settings(run)
    expected = parse_config(_committed(run.stack), frozenset())

    assert {name: settings[name] for name in _SETTINGS} == expected.access.app_settings()
    assert AccessRules.from_env(settings).approver_roles == frozenset(DEFAULT_APPROVER_ROLES)
