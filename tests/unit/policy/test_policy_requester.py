"""The requester in the Cedar context: who, their roles, and the limits configuration gives them."""

from __future__ import annotations

import json

import pytest

from agentcage.errors import ConfigurationError
from agentcage.ledger import Requester
from agentcage.policy import CallContext, RequesterAuthority, RoleAuthority, cedar_context
from agentcage.policy.tags import environment_values

REP = Requester(kind="person", id="rep-oid", name="Rep", roles=("service_rep",))
AUTHORITY = RequesterAuthority(
    roles={
        "service_rep": RoleAuthority(refund_limit_cents=100),
        "finance": RoleAuthority(refund_limit_cents=5000),
        "operations": RoleAuthority(environments=frozenset({" Dev ", "test"})),
    }
)


def test_the_requester_and_the_limits_of_their_roles_reach_cedar() -> None:
    ops = Requester(kind="app", id="app-1", name="nightly", roles=("operations", "service_rep", "unknown"))

    context = cedar_context(
        CallContext(environment="dev", requester=ops, authority=AUTHORITY), finance_threshold_cents=1
    )

    assert context["requester"] == {
        "known": True,
        "kind": "app",
        "id": "app-1",
        "roles": ["operations", "service_rep", "unknown"],
        "limits": {"refund_cents": 100},
        "environments": ["dev", "test"],
    }


def test_no_recorded_requester_has_no_authority() -> None:
    context = cedar_context(CallContext(environment="dev", authority=AUTHORITY), finance_threshold_cents=1)

    assert context["requester"]["known"] is False
    assert context["requester"]["limits"] == {"refund_cents": 0}
    assert context["requester"]["environments"] == []


def test_the_approver_limits_are_those_of_the_approving_roles() -> None:
    call = CallContext(environment="dev", approved=True, approver_roles=("finance",), authority=AUTHORITY)

    assert cedar_context(call, finance_threshold_cents=1)["approval"]["approver_limits"] == {
        "refund_cents": 5000
    }
    unapproved = CallContext(environment="dev", authority=AUTHORITY)
    assert cedar_context(unapproved, finance_threshold_cents=1)["approval"]["approver_limits"] == {
        "refund_cents": 0
    }


@pytest.mark.parametrize(
    ("tags", "environment", "expected"),
    [
        ({"env": "Dev", "team": "x"}, "prod", ["dev"]),
        ({"DeployEnv": "qa", "stage": "test"}, "dev", ["qa", "test"]),
        ({"owner": "prod-team"}, "Staging", ["staging"]),  # none named: the deployment's
        ({}, "dev", ["dev"]),
        (None, "dev", []),  # unknown tags name nothing
    ],
)
def test_the_target_environments_are_what_its_tags_name_else_the_deployments(
    tags: dict[str, str] | None, environment: str, expected: list[str]
) -> None:
    call = CallContext(environment=environment, target_tags=tags, authority=AUTHORITY)

    assert cedar_context(call, finance_threshold_cents=1)["target"]["environments"] == expected


def test_environment_values_ignore_keys_that_name_no_environment() -> None:
    assert environment_values({"inventory": "dev", "Environment": " Prod ", "tier": ""}) == {"prod"}


def test_the_authority_document_is_read_from_configuration() -> None:
    document = {"roles": {"clerk": {"refund_limit_cents": 7}}}

    authority = RequesterAuthority.from_env({"AGENTCAGE_REQUESTER_AUTHORITY": json.dumps(document)})

    assert authority.of(["clerk", "service_rep"]).refund_limit_cents == 7  # only what it configures
    assert RequesterAuthority.from_env({}).of(["finance"]).refund_limit_cents == 1_000_000


@pytest.mark.parametrize("text", ["{", '{"roles": {"x": {"refund_limit_cents": -1}}}', '{"other": 1}'])
def test_an_invalid_authority_document_is_a_configuration_error(text: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RequesterAuthority.from_env({"AGENTCAGE_REQUESTER_AUTHORITY": text})
    assert "AGENTCAGE_REQUESTER_AUTHORITY" in caught.value.message
