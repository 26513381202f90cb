"""The governance gate, steps 1-3 (toolset, argument validation, inspection, Cedar policy), as the
one object the coordinator and the AWS executor call; and the data-driven policy cases."""

from agentcage.gate.cases import CaseResult, PolicyCase, load_cases, run_cases
from agentcage.gate.decision import GateDecision, GateError
from agentcage.gate.gate import GovernanceGate

__all__ = [
    "GovernanceGate",
    "GateDecision",
    "GateError",
    "PolicyCase",
    "CaseResult",
    "load_cases",
    "run_cases",
]
