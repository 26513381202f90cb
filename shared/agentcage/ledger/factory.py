"""Choosing a ledger backend: an explicit argument, then ``AGENTCAGE_LEDGER_BACKEND``, then SQLite."""

from __future__ import annotations

import os
from typing import Any

from agentcage.constants import LEDGER_BACKEND_ENV
from agentcage.errors import ConfigurationError
from agentcage.ledger.base import Ledger

__all__ = ["BACKENDS", "open_ledger"]

BACKENDS = ("memory", "sqlite", "dynamodb")


def open_ledger(backend: str | None = None, **kwargs: Any) -> Ledger:
    """Open the ledger ``backend`` (memory | sqlite | dynamodb) with the backend's own keyword arguments."""
    name = (backend or os.environ.get(LEDGER_BACKEND_ENV) or "sqlite").strip().lower()
    if name == "memory":
        from agentcage.ledger.memory import MemoryLedger

        return MemoryLedger(**kwargs)
    if name == "sqlite":
        from agentcage.ledger.sqlite import SQLiteLedger

        return SQLiteLedger(**kwargs)
    if name == "dynamodb":
        from agentcage.ledger.dynamodb import DynamoDBLedger

        return DynamoDBLedger(**kwargs)
    raise ConfigurationError(
        f"unknown ledger backend {name!r}; choose one of {', '.join(BACKENDS)}",
        details={"backend": name, "choices": list(BACKENDS)},
    )
