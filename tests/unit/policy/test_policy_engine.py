"""The Cedar engine: load-time validation, decisions, needs_approval soundness, fail closed."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.errors import PolicyLoadError
from agentcage.inspect import InspectionSummary
from agentcage.ledger import Requester
from agentcage.policy import ARGS_SUMMARY_TYPES, BudgetState, CallContext, PolicyEngine, cedar_context
from agentcage.tools import Catalog, load_agents

SHARED = Path(__file__).resolve().parents[3] / "shared"
POLICIES = SHARED / "policies"
SCHEMA = (POLICIES / "schema.cedarschema").read_text()
CATALOG = Catalog.from_directory(SHARED / "catalog")
AGENTS = load_agents(CATALOG, SHARED / "agents")
PERMIT = '@id("p") permit (principal, action == Action::"call", resource);\n'


@pytest.fixture(scope="module")
def strict() -> PolicyEngine:
    return PolicyEngine.from_directory(POLICIES, validate_requests=True)


def _decide(engine: PolicyEngine, agent: str, tool: str, **call: Any) -> Any:
    return engine.decide(AGENTS[agent], CATALOG[tool], CallContext(**{"environment": "dev", **call}))


def test_every_shipped_policy_has_an_id_and_description(strict: PolicyEngine) -> None:
    ids = [m.id for m in strict.policies]
    assert len(ids) == len(set(ids)) >= 9
    assert all(m.description != m.id for m in strict.policies)
    assert {m.id for m in strict.policies if m.obligation == "approval"} == {
        "write-needs-approval",
        "destructive-needs-approval",
        "refund-above-threshold-needs-finance-approver",
        "refund-above-requester-authority-needs-higher-approver",
    }


def test_a_policy_change_that_breaks_the_schema_fails_the_load_with_cedars_message(tmp_path: Path) -> None:
    # GIVEN the shipped policies with one edited to use an attribute the schema does not have
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    edited = (
        (folder / "approvals.cedar")
        .read_text()
        .replace('resource.effect == "write"', 'resource.colour == "write"')
    )
    (folder / "approvals.cedar").write_text(edited)
    # WHEN loaded THEN the load fails with Cedar's own words about the attribute
    with pytest.raises(PolicyLoadError) as caught:
        PolicyEngine.from_directory(folder)
    assert "write-needs-approval" in caught.value.message
    assert "colour" in caught.value.message


def test_a_syntax_error_fails_the_load() -> None:
    with pytest.raises(PolicyLoadError, match="could not parse"):
        PolicyEngine("permit (principal, action, resource) when {", SCHEMA)


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ('permit (principal, action == Action::"call", resource);', "@id"),
        (PERMIT + PERMIT, "more than one"),
        (
            '@id("p") @obligation("approval") permit (principal, action == Action::"call", resource);',
            "forbid",
        ),
    ],
)
def test_annotation_rules_are_enforced_at_load(policies: str, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        PolicyEngine(policies, SCHEMA)


def test_allow_lists_the_permit(strict: PolicyEngine) -> None:
    decision = _decide(strict, "returns-coordinator", "getCustomer", args={"customer_id": "C-1001"})
    assert (decision.decision, decision.policies) == ("allow", ("toolset-permit",))


def test_refund_above_threshold_names_the_finance_approver(strict: PolicyEngine) -> None:
    decision = _decide(strict, "returns-coordinator", "createRefund", args={"amount_cents": 50_001})
    assert decision.decision == "needs_approval"
    assert decision.obligations == ("approval",)
    assert decision.approver_roles == ("finance",)


def test_the_threshold_is_configuration() -> None:
    engine = PolicyEngine.from_directory(POLICIES, finance_threshold_cents=1_000)
    decision = _decide(
        engine, "returns-coordinator", "createRefund", args={"amount_cents": 1_001}, approved=True
    )
    assert (decision.decision, decision.approver_roles) == ("needs_approval", ("finance",))


def test_a_forbid_that_an_approval_does_not_lift_is_a_deny_not_needs_approval() -> None:
    # GIVEN a forbid annotated with an obligation whose condition ignores the approval
    policies = PERMIT + '@id("f") @obligation("approval") forbid (principal, action, resource);\n'
    engine = PolicyEngine(policies, SCHEMA)
    # WHEN decided THEN the re-evaluation shows an approval would not help: deny
    decision = _decide(engine, "returns-coordinator", "getCustomer")
    assert decision.decision == "deny"
    assert "an approval would not make this call allowed" in decision.reasons


def test_an_evaluation_error_denies_even_when_a_permit_matches() -> None:
    # GIVEN a permit, and a forbid whose condition overflows a Long at run time (Cedar skips it)
    policies = PERMIT + (
        '@id("overflowing-forbid") forbid (principal, action, resource)\n'
        "when { context.finance_threshold_cents * 9223372036854775807 > 0 };\n"
    )
    engine = PolicyEngine(policies, SCHEMA)
    # WHEN decided THEN the engine fails closed
    decision = _decide(engine, "returns-coordinator", "getCustomer")
    assert decision.decision == "deny"
    assert decision.errors


def test_no_permit_is_a_default_deny(strict: PolicyEngine) -> None:
    rep = Requester(kind="person", id="rep-oid", name="Rep", roles=("service_rep",))
    decision = _decide(
        strict, "procurement-agent", "createRefund", args={"amount_cents": 1}, approved=True, requester=rep
    )
    assert decision.decision == "deny"
    assert decision.policies == ()
    assert decision.reasons == ("no policy permits procurement-agent to call createRefund",)


def test_args_summary_attributes_match_the_schema(strict: PolicyEngine) -> None:
    args = {name: ("USD" if kind is str else 7) for name, kind in ARGS_SUMMARY_TYPES.items()}
    decision = _decide(strict, "returns-coordinator", "getCustomer", args=args)
    assert decision.errors == ()
    assert decision.decision == "allow"


@pytest.mark.parametrize(("fraction", "percent"), [(1e306, 100), (-3.0, 0), (math.inf, 0), (0.5, 50)])
def test_out_of_range_budget_fractions_are_clamped(fraction: float, percent: int) -> None:
    context = cedar_context(
        CallContext("dev", budget=BudgetState(remaining_fraction=fraction)), finance_threshold_cents=1
    )
    assert context["budget"]["remaining_percent"] == percent


def test_a_nan_budget_fraction_counts_as_exhausted() -> None:
    context = cedar_context(
        CallContext("dev", budget=BudgetState(remaining_fraction=math.nan)), finance_threshold_cents=1
    )
    assert context["budget"] == {"exhausted": True, "remaining_percent": 0}


tag_values = st.text(max_size=12) | st.integers() | st.booleans()


@settings(max_examples=120, deadline=None)
@given(
    tool=st.sampled_from(sorted(CATALOG)),
    environment=st.text(max_size=12),
    args=st.dictionaries(
        st.sampled_from([*ARGS_SUMMARY_TYPES, "note"]),
        st.integers() | st.text(max_size=8) | st.booleans() | st.none(),
        max_size=5,
    ),
    tags=st.none() | st.dictionaries(st.text(max_size=10), tag_values, max_size=4),
    approved=st.booleans(),
    roles=st.lists(st.text(max_size=8), max_size=3),
    fraction=st.floats(allow_nan=True, allow_infinity=True),
    has_pii=st.booleans(),
)
def test_every_built_context_fits_the_schema(
    strict: PolicyEngine,
    tool: str,
    environment: str,
    args: dict[str, Any],
    tags: dict[str, Any] | None,
    approved: bool,
    roles: list[str],
    fraction: float,
    has_pii: bool,
) -> None:
    # The engine skips per-request schema validation by default; this is what makes that safe.
    decision = strict.decide(
        AGENTS["janitor-agent"],
        CATALOG[tool],
        CallContext(
            environment=environment,
            args=args,
            target_tags=tags,
            approved=approved,
            approver_roles=roles,
            budget=BudgetState(remaining_fraction=fraction),
            inspection=InspectionSummary(has_pii=has_pii),
        ),
    )
    assert decision.errors == ()
    assert decision.decision in ("allow", "deny", "needs_approval")
