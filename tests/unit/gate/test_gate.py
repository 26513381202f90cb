"""The gate's steps 1-3 and what its decision carries."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage import errors
from agentcage.envelopes import args_digest
from agentcage.gate import GovernanceGate

REFUND = {
    "customer_id": "C-1001",
    "order_id": "O-20001",
    "amount_cents": 1200,
    "currency": "USD",
    "reason": "damaged",
}
GATE = GovernanceGate.default()


def test_default_gate_is_loaded_once_per_process() -> None:
    assert GovernanceGate.default() is GATE


def test_an_allowed_call_carries_the_tool_and_the_args_digest() -> None:
    decision = GATE.evaluate(
        "returns-coordinator", "getCustomer", {"customer_id": "C-1001"}, environment="dev"
    )
    assert decision.allowed
    assert decision.error is None
    assert decision.tool is GATE.catalog["getCustomer"]
    assert decision.args_digest == args_digest({"customer_id": "C-1001"})
    assert decision.to_exception() is None


def test_a_write_needs_approval_with_the_digest_to_bind_it_to() -> None:
    decision = GATE.evaluate("returns-coordinator", "createRefund", REFUND, environment="dev")
    assert decision.needs_approval
    assert decision.obligations == ("approval",)
    assert decision.args_digest == args_digest(REFUND)
    assert isinstance(decision.to_exception(), errors.ApprovalRequiredError)


def test_invalid_arguments_come_back_as_a_structured_error_not_an_exception() -> None:
    decision = GATE.evaluate(
        "returns-coordinator", "createRefund", {**REFUND, "amount_cents": "12"}, environment="dev"
    )
    assert decision.decision == "deny"
    assert decision.error is not None
    assert decision.error.code == "invalid_arguments"
    assert decision.error.problems == (
        {"path": "$.amount_cents", "message": "'12' is not of type 'integer'", "keyword": "type"},
    )
    assert decision.args_digest is None
    exception = decision.to_exception()
    assert isinstance(exception, errors.ToolArgumentsError)
    assert exception.details["problems"] == list(decision.error.problems)


def test_non_finite_numbers_are_invalid_arguments() -> None:
    args = {"customer_id": "C-1001", "order_id": "O-20001", "amount_cents": 5, "days_since_purchase": 1}
    decision = GATE.evaluate(
        "returns-coordinator", "assessReturnException", {**args, "reason": math.nan}, environment="dev"
    )
    assert decision.error is not None
    assert decision.error.code == "invalid_arguments"


@pytest.mark.parametrize(
    ("agent", "tool", "code", "exception"),
    [
        ("ghost", "getCustomer", "unknown_agent", errors.UnknownAgentError),
        ("janitor-agent", "dropDatabase", "unknown_tool", errors.UnknownToolError),
        ("procurement-agent", "createRefund", "tool_not_allowed", errors.ToolNotAllowedError),
    ],
)
def test_step_one_refusals_have_their_codes(agent: str, tool: str, code: str, exception: type) -> None:
    decision = GATE.evaluate(agent, tool, {}, environment="dev")
    assert decision.error is not None
    assert decision.error.code == code
    assert isinstance(decision.to_exception(), exception)


def test_sensitive_data_to_an_egress_tool_maps_to_inspection_blocked() -> None:
    args = {
        "vendor_id": "V-123",
        "sku": "AB-1",
        "quantity": 1,
        "target_price_cents": 5,
        "note": "mail jane@example.com",
    }
    decision = GATE.evaluate("procurement-agent", "negotiateVendorTerms", args, environment="dev")
    assert [(f.kind, f.path) for f in decision.findings] == [("email", "$.note")]
    assert isinstance(decision.to_exception(), errors.InspectionBlockedError)
    assert "jane@example.com" not in str(decision.to_dict())


def test_a_gate_refuses_agents_whose_toolset_the_catalog_lacks() -> None:
    agent = GATE.agents["janitor-agent"].model_copy(update={"toolset": ("listVolumes", "formatDisk")})
    with pytest.raises(errors.AgentDefinitionError, match="formatDisk"):
        GovernanceGate(GATE.catalog, {"janitor-agent": agent}, GATE.policy)


def test_a_gate_refuses_a_specialist_it_does_not_know() -> None:
    # GIVEN the coordinator without the specialists it delegates to
    agents = {"returns-coordinator": GATE.agents["returns-coordinator"]}
    # THEN the gate refuses it, as load_agents would (one check, shared)
    with pytest.raises(errors.AgentDefinitionError, match="specialist"):
        GovernanceGate(GATE.catalog, agents, GATE.policy)


def test_the_digest_is_of_the_proposed_arguments_not_of_them_with_defaults() -> None:
    # GIVEN a proposal that omits an argument whose schema has a default (limit: 10)
    args = {"customer_id": "C-1001"}
    proposed = args_digest(args)
    # WHEN the gate evaluates it
    decision = GATE.evaluate("returns-coordinator", "listRecentOrders", args, environment="dev")
    # THEN the arguments are untouched and the digest an approval would bind to is theirs
    assert decision.allowed
    assert args == {"customer_id": "C-1001"}
    assert decision.args_digest == proposed == args_digest({"customer_id": "C-1001"})


def test_the_toolset_is_what_the_model_sees() -> None:
    assert [t.name for t in GATE.toolset("janitor-agent")] == ["listVolumes", "getVolume", "deleteVolume"]
    with pytest.raises(errors.UnknownAgentError):
        GATE.toolset("ghost")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    agent=st.sampled_from([*sorted(GATE.agents), "nobody"]),
    tool=st.sampled_from([*sorted(GATE.catalog), "nothing"]),
    args=json_values,
    tags=st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    environment=st.text(max_size=10),
)
def test_random_proposals_never_crash_the_gate(
    agent: str, tool: str, args: Any, tags: dict[str, str] | None, environment: str
) -> None:
    before = copy.deepcopy(args)
    decision = GATE.evaluate(agent, tool, args, environment=environment, target_tags=tags)
    assert decision.decision in ("allow", "deny", "needs_approval")
    assert decision.allowed == (decision.error is None)
    assert repr(args) == repr(before)  # untouched (repr, because NaN is never equal to itself)
    if decision.args_digest is not None:
        assert decision.args_digest == args_digest(before)
