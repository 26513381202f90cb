"""Budgets, model-call bounds, prices, circuit breakers and loop detection.

The value types and rules here are pure; the ledger (:mod:`agentcage.ledger`) stores them and
applies them atomically, and :class:`BudgetGuard` puts the two together for the governance gate.
"""

from agentcage.budget.breaker import (
    Admission,
    BreakerSettings,
    CircuitRecord,
    CircuitState,
    admit,
    counts_as_failure,
    record_outcome,
    release_probe,
)
from agentcage.budget.config import BudgetConfig, BudgetOverrides, LimitValues, load_budget_config
from agentcage.budget.guard import BudgetGuard, ModelCall, provider_did_not_process
from agentcage.budget.limits import AMOUNT_FIELDS, BudgetLimits, LimitName, Usage, exceeded_limit
from agentcage.budget.loops import LoopDetector
from agentcage.budget.metrics import EmfMetricsSink, MetricsSink
from agentcage.budget.model_calls import (
    ModelCallPlan,
    Tokenizer,
    input_token_bound,
    plan_model_call,
    serialize_request,
)
from agentcage.budget.pricing import ModelPrice, model_usage

__all__ = [
    # amounts and limits
    "Usage",
    "BudgetLimits",
    "LimitName",
    "AMOUNT_FIELDS",
    "exceeded_limit",
    # configuration
    "BudgetConfig",
    "BudgetOverrides",
    "LimitValues",
    "load_budget_config",
    # prices and model calls
    "ModelPrice",
    "model_usage",
    "ModelCallPlan",
    "Tokenizer",
    "input_token_bound",
    "plan_model_call",
    "serialize_request",
    # breakers and loops
    "BreakerSettings",
    "CircuitRecord",
    "CircuitState",
    "Admission",
    "admit",
    "record_outcome",
    "release_probe",
    "counts_as_failure",
    "LoopDetector",
    # the gate's budget step
    "BudgetGuard",
    "ModelCall",
    "provider_did_not_process",
    # metrics
    "MetricsSink",
    "EmfMetricsSink",
]
