"""The data-driven policy cases (tests/policy_cases), run through the whole gate, both ways."""

from __future__ import annotations

import pytest

from agentcage.gate import GovernanceGate, load_cases, run_cases
from agentcage.gate.cases import DECISIONS, LoadedCase
from agentcage.policy import PolicyEngine

CASES = load_cases()


@pytest.fixture(scope="module")
def strict_gate() -> GovernanceGate:
    gate = GovernanceGate.default()
    return GovernanceGate(gate.catalog, gate.agents, PolicyEngine.from_directory(validate_requests=True))


def test_there_are_at_least_forty_cases_in_every_folder() -> None:
    assert len(CASES) >= 40
    assert {case.expected for case in CASES} == set(DECISIONS)


def test_the_janitor_incident_and_its_near_misses_are_covered() -> None:
    names = {case.name for case in CASES}
    assert "deny/janitor-incident-production-candidate.json" in names
    assert sum(name.startswith("needs_approval/janitor-near-miss") for name in names) >= 3


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_policy_case(case: LoadedCase) -> None:
    (result,) = run_cases(GovernanceGate.default(), [case])
    assert result.passed, result.problems


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_policy_case_with_request_validation(strict_gate: GovernanceGate, case: LoadedCase) -> None:
    (result,) = run_cases(strict_gate, [case])
    assert result.passed, result.problems
    assert result.decision.policy_errors == ()
