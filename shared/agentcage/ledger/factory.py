"""Choosing a ledger backend: an explicit argument, then ``AGENTCAGE_LEDGER_BACKEND``, then SQLite.

The breaker settings come from the budget configuration (:class:`~agentcage.budget.BudgetConfig`
``.breaker``), the one place they are configured: an explicit ``breaker`` argument, else the
``budget`` passed, else :func:`~agentcage.budget.load_budget_config` (``AGENTCAGE_BUDGET_CONFIG``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from agentcage.constants import LEDGER_BACKEND_ENV
from agentcage.errors import ConfigurationError
from agentcage.ledger.base import Ledger

if TYPE_CHECKING:
    from agentcage.budget.config import BudgetConfig

__all__ = ["BACKENDS", "open_ledger"]

BACKENDS = ("memory", "sqlite", "dynamodb")


def open_ledger(backend: str | None = None, *, budget: BudgetConfig | None = None, **kwargs: Any) -> Ledger:
    """Open the ledger ``backend`` (memory | sqlite | dynamodb) with the backend's own keyword arguments.

    Its circuit breakers use ``kwargs["breaker"]`` when given, else ``budget.breaker``, else the
    breaker of the configured budget file, so the settings a stack deploys are the ones that apply.
    """
    name = (backend or os.environ.get(LEDGER_BACKEND_ENV) or "sqlite").strip().lower()
    if name not in BACKENDS:
        raise ConfigurationError(
            f"unknown ledger backend {name!r}; choose one of {', '.join(BACKENDS)}",
            details={"backend": name, "choices": list(BACKENDS)},
        )
    if kwargs.get("breaker") is None:
        from agentcage.budget.config import load_budget_config

        kwargs["breaker"] = (budget if budget is not None else load_budget_config()).breaker
    if name == "memory":
        from agentcage.ledger.memory import MemoryLedger

        return MemoryLedger(**kwargs)
    if name == "sqlite":
        from agentcage.ledger.sqlite import SQLiteLedger

        return SQLiteLedger(**kwargs)
    from agentcage.ledger.dynamodb import DynamoDBLedger

    return DynamoDBLedger(**kwargs)
