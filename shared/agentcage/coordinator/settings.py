"""The coordinator's configuration, read once: an explicit value, then the environment, then a default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from agentcage.budget.config import BudgetConfig, load_budget_config
from agentcage.budget.pricing import ModelPrice
from agentcage.constants import (
    COORDINATOR_PRINCIPAL_ID_ENV,
    ENVIRONMENT_ENV,
    MODEL_TIMEOUT_ENV,
    PUBLIC_BASE_URL_ENV,
)
from agentcage.errors import ConfigurationError

__all__ = ["DEFAULT_AGENT", "CoordinatorSettings"]

DEFAULT_AGENT = "returns-coordinator"
"""The agent a task runs when ``POST /api/tasks`` names none (the running example's agent)."""


@dataclass(frozen=True, slots=True)
class CoordinatorSettings:
    """Everything the agent loop needs to know besides its injected collaborators."""

    environment: str = "dev"
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    default_agent: str = DEFAULT_AGENT
    max_output_tokens: int = 1024
    model_timeout_s: float = 60.0
    approval_ttl_seconds: int = 3600
    public_base_url: str = ""
    max_request_chars: int = 8000
    coordinator_principal_id: str = ""
    """The Entra object id of the identity the coordinator runs as; it may never approve (empty: none)."""

    def __post_init__(self) -> None:
        if self.max_output_tokens < 1:
            raise ConfigurationError("max_output_tokens must be at least 1")
        if self.model_timeout_s <= 0:
            raise ConfigurationError("model_timeout_s must be positive")
        if self.approval_ttl_seconds <= 0:
            raise ConfigurationError("approval_ttl_seconds must be positive")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        budget: BudgetConfig | None = None,
        free_models: tuple[str, ...] = (),
    ) -> CoordinatorSettings:
        """Settings from ``AGENTCAGE_*`` variables and the budget file they name.

        ``free_models`` get a zero price when the budget file prices them not at all: the scripted
        offline model costs nothing, and without a price no model call can be bounded.
        """
        env = os.environ if environ is None else environ
        config = budget or load_budget_config()
        missing = {
            name: ModelPrice(input_usd_per_million=0, output_usd_per_million=0) for name in free_models
        }
        missing = {name: price for name, price in missing.items() if name not in config.prices}
        if missing:
            config = config.model_copy(update={"prices": {**config.prices, **missing}})
        timeout = env.get(MODEL_TIMEOUT_ENV)
        try:
            model_timeout = float(timeout) if timeout else 60.0
        except ValueError:
            raise ConfigurationError(f"{MODEL_TIMEOUT_ENV} must be a number of seconds") from None
        return cls(
            environment=(env.get(ENVIRONMENT_ENV) or "dev").strip().lower(),
            budget=config,
            model_timeout_s=model_timeout,
            public_base_url=(env.get(PUBLIC_BASE_URL_ENV) or "").rstrip("/"),
            coordinator_principal_id=(env.get(COORDINATOR_PRINCIPAL_ID_ENV) or "").strip(),
        )
