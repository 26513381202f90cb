"""Budget configuration: default limits, the ceiling a per-task override may not pass, prices,
breaker and loop settings.

Precedence, as everywhere in agentcage: an explicit argument (a path or a mapping), then the
``AGENTCAGE_BUDGET_CONFIG`` environment variable naming a YAML file, then the defaults below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentcage.budget.breaker import BreakerSettings
from agentcage.budget.limits import BudgetLimits
from agentcage.budget.pricing import ModelPrice
from agentcage.constants import BUDGET_CONFIG_ENV
from agentcage.errors import ConfigurationError, InvalidInputError

__all__ = ["BudgetConfig", "BudgetOverrides", "LimitValues", "load_budget_config"]

_LIMIT_FIELDS = ("tokens", "cost_micro_usd", "model_steps", "tool_calls", "deadline_seconds")


class LimitValues(BaseModel):
    """A full set of limits with the deadline relative to the task's creation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int = Field(ge=0)
    cost_micro_usd: int = Field(ge=0)
    model_steps: int = Field(ge=0)
    tool_calls: int = Field(ge=0)
    deadline_seconds: int = Field(gt=0)


class BudgetOverrides(BaseModel):
    """Per-task overrides of the default limits; a field left out keeps the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int | None = Field(default=None, ge=0)
    cost_micro_usd: int | None = Field(default=None, ge=0)
    model_steps: int | None = Field(default=None, ge=0)
    tool_calls: int | None = Field(default=None, ge=0)
    deadline_seconds: int | None = Field(default=None, gt=0)


class BudgetConfig(BaseModel):
    """Everything the budget layer is configured with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: LimitValues = LimitValues(
        tokens=200_000, cost_micro_usd=2_000_000, model_steps=30, tool_calls=50, deadline_seconds=900
    )
    ceiling: LimitValues = LimitValues(
        tokens=2_000_000, cost_micro_usd=20_000_000, model_steps=200, tool_calls=500, deadline_seconds=86_400
    )
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    # The most any model this deployment may call costs per token. A model without a price of its own
    # is reserved and charged at it (never less than it can cost); without it such a call is refused.
    price_ceiling: ModelPrice | None = None
    min_useful_output_tokens: int = Field(default=256, ge=1)
    # Added to the byte bound for what a provider wraps around the request (reply priming tokens).
    request_overhead_tokens: int = Field(default=16, ge=0)
    # Above the breaker's failure threshold: a tool that keeps failing must open its (shared) circuit,
    # protecting every task, before one task's loop detector halts only that task and leaves the
    # dead endpoint to the next one. The loop detector is for repeats the breaker cannot see.
    loop_threshold: int = Field(default=5, ge=2)
    breaker: BreakerSettings = BreakerSettings()
    reservation_ttl_seconds: int = Field(default=300, gt=0)
    tool_call_cost_micro_usd: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _loops_after_breaker(self) -> BudgetConfig:
        if self.loop_threshold <= self.breaker.failure_threshold:
            raise ValueError(
                f"loop_threshold ({self.loop_threshold}) must be above the breaker's "
                f"failure_threshold ({self.breaker.failure_threshold}): a failing tool must open its "
                "circuit for all tasks first"
            )
        return self

    @model_validator(mode="after")
    def _defaults_within_ceiling(self) -> BudgetConfig:
        over = [f for f in _LIMIT_FIELDS if getattr(self.defaults, f) > getattr(self.ceiling, f)]
        if over:
            raise ValueError(f"default limits above the ceiling: {', '.join(over)}")
        return self

    def price_for(self, model: str) -> ModelPrice:
        """The configured price of ``model``, else the price ceiling; without either a call's cost cannot
        be bounded: ConfigurationError naming the model."""
        price = self.bounding_price(model)
        if price is None:
            raise ConfigurationError(
                f"no price configured for model {model!r} and no price_ceiling; its cost cannot be bounded",
                details={"model": model, "known": sorted(self.prices)},
            )
        return price

    def bounding_price(self, model: str) -> ModelPrice | None:
        """A price no lower than what a call of ``model`` costs: its own, else the ceiling, else None."""
        return self.prices.get(model, self.price_ceiling)

    def limits_for(
        self, overrides: BudgetOverrides | Mapping[str, Any] | None, now: datetime
    ) -> BudgetLimits:
        """The limits of a task created at ``now``: defaults, then overrides checked against the ceiling."""
        if overrides is None:
            chosen = BudgetOverrides()
        elif isinstance(overrides, BudgetOverrides):
            chosen = overrides
        else:
            try:
                chosen = BudgetOverrides.model_validate(dict(overrides))
            except ValidationError as error:
                raise InvalidInputError(
                    "invalid budget overrides", details={"problems": error.errors(include_url=False)}
                ) from None
        values: dict[str, int] = {}
        for name in _LIMIT_FIELDS:
            requested = getattr(chosen, name)
            ceiling = getattr(self.ceiling, name)
            if requested is not None and requested > ceiling:
                raise InvalidInputError(
                    f"requested budget {name}={requested} is above the configured ceiling {ceiling}",
                    details={"limit": name, "requested": requested, "ceiling": ceiling},
                )
            values[name] = getattr(self.defaults, name) if requested is None else requested
        deadline_seconds = values.pop("deadline_seconds")
        return BudgetLimits(**values, deadline=now + timedelta(seconds=deadline_seconds))


def load_budget_config(source: str | Path | Mapping[str, Any] | None = None) -> BudgetConfig:
    """Load the budget configuration from a mapping, a YAML file, ``$AGENTCAGE_BUDGET_CONFIG`` or defaults."""
    if isinstance(source, Mapping):
        raw: Any = dict(source)
    else:
        path = source if source is not None else os.environ.get(BUDGET_CONFIG_ENV)
        if not path:
            return BudgetConfig()
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigurationError(f"cannot read budget configuration {path}: {error}") from None
    try:
        return BudgetConfig.model_validate(raw)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        summary = "; ".join(f"{'.'.join(map(str, p['loc'])) or '$'}: {p['msg']}" for p in problems[:5])
        raise ConfigurationError(
            f"invalid budget configuration: {summary}", details={"problems": problems}
        ) from None
