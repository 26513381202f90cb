"""Data-driven policy cases: one JSON request per file, in a folder named for the expected decision.

``tests/policy_cases/{allow,deny,needs_approval}/*.json``; each file is a :class:`PolicyCase`. The
cases run through the whole gate (steps 1-3), so a tool outside the toolset or a hallucinated argument
is a ``deny`` case like any policy deny. ``agentcage policy test`` and a pytest test run the same
cases.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentcage.errors import ConfigurationError
from agentcage.gate.decision import GateDecision
from agentcage.gate.gate import GovernanceGate
from agentcage.policy.context import BudgetState

__all__ = [
    "DEFAULT_CASES_DIR",
    "DECISIONS",
    "CaseResult",
    "LoadedCase",
    "PolicyCase",
    "load_cases",
    "run_cases",
]

# shared/agentcage/gate/cases.py -> the repository root
DEFAULT_CASES_DIR = Path(__file__).resolve().parents[3] / "tests" / "policy_cases"
DECISIONS = ("allow", "deny", "needs_approval")


class CaseBudget(BaseModel):
    """The budget state a case is evaluated under."""

    model_config = ConfigDict(extra="forbid")

    exhausted: bool = False
    remaining_fraction: float = Field(default=1.0, ge=0.0, le=1.0)


class CaseRequester(BaseModel):
    """The person a case's task runs for (absent: no recorded requester, which has no authority)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["person", "app", "development"] = "person"
    id: str = Field(min_length=1)
    roles: tuple[str, ...] = ()


class PolicyCase(BaseModel):
    """One proposed call and its circumstances; the expected decision is the folder's name."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1)
    agent: str
    tool: str
    args: Any = Field(default_factory=dict)
    environment: str = "dev"
    tags: dict[str, Any] | None = None
    approved: bool = False
    approver_roles: list[str] = Field(default_factory=list)
    budget: CaseBudget | None = None
    requester: CaseRequester | None = None
    expect_policies: list[str] = Field(default_factory=list, description="must be among the deciding ones")
    expect_error: str | None = Field(default=None, description="the expected error code")

    def evaluate(self, gate: GovernanceGate) -> GateDecision:
        """Run this case through ``gate``."""
        budget = BudgetState(**self.budget.model_dump()) if self.budget else None
        return gate.evaluate(
            self.agent,
            self.tool,
            self.args,
            environment=self.environment,
            target_tags=self.tags,
            approved=self.approved,
            approver_roles=self.approver_roles,
            budget=budget,
            requester=self.requester,
        )


@dataclass(frozen=True, slots=True)
class LoadedCase:
    """A case with its file name and the decision its folder names."""

    name: str
    expected: Literal["allow", "deny", "needs_approval"]
    case: PolicyCase


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case's outcome."""

    name: str
    expected: str
    actual: str
    passed: bool
    problems: tuple[str, ...]
    decision: GateDecision


def load_cases(directory: str | os.PathLike[str] | None = None) -> list[LoadedCase]:
    """Every case under ``directory`` (default ``tests/policy_cases``), sorted by folder and name."""
    root = Path(directory) if directory is not None else DEFAULT_CASES_DIR
    if not root.is_dir():
        raise ConfigurationError(f"no policy case folder {root}")
    loaded: list[LoadedCase] = []
    for expected in DECISIONS:
        for file in sorted((root / expected).glob("*.json")):
            name = f"{expected}/{file.name}"
            try:
                case = PolicyCase.model_validate(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, ValueError, ValidationError) as error:
                raise ConfigurationError(f"policy case {name} is invalid: {error}") from error
            loaded.append(LoadedCase(name, expected, case))  # type: ignore[arg-type]
    if not loaded:
        raise ConfigurationError(f"no policy cases (*.json) under {root}/{{{','.join(DECISIONS)}}}")
    return loaded


def run_cases(gate: GovernanceGate, cases: Iterable[LoadedCase]) -> list[CaseResult]:
    """Evaluate every case and compare with what its folder (and ``expect_*`` fields) say."""
    results: list[CaseResult] = []
    for loaded in cases:
        decision = loaded.case.evaluate(gate)
        problems: list[str] = []
        if decision.decision != loaded.expected:
            problems.append(f"expected {loaded.expected}, got {decision.decision}")
        missing = [p for p in loaded.case.expect_policies if p not in decision.policies]
        if missing:
            problems.append(f"deciding policies {list(decision.policies)} lack {missing}")
        actual_code = decision.error.code if decision.error else None
        if loaded.case.expect_error is not None and actual_code != loaded.case.expect_error:
            problems.append(f"expected error {loaded.case.expect_error}, got {actual_code}")
        results.append(
            CaseResult(
                loaded.name, loaded.expected, decision.decision, not problems, tuple(problems), decision
            )
        )
    return results
