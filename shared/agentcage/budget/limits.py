"""Budget amounts and limits: what a task may spend, what it has spent, and the one limit check.

Every amount is an integer (tokens, micro-dollars, steps, calls) so that sums are exact on every
backend; DynamoDB numbers and SQLite integers hold them without rounding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "AMOUNT_FIELDS",
    "BudgetLimits",
    "LimitName",
    "Usage",
    "exceeded_limit",
]

LimitName = Literal["tokens", "cost_micro_usd", "model_steps", "tool_calls", "deadline"]

AMOUNT_FIELDS: tuple[Literal["tokens", "cost_micro_usd", "model_steps", "tool_calls"], ...] = (
    "tokens",
    "cost_micro_usd",
    "model_steps",
    "tool_calls",
)


class Usage(BaseModel):
    """An amount of budget: spent, reserved or requested. All fields are non-negative integers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int = Field(default=0, ge=0)
    cost_micro_usd: int = Field(default=0, ge=0)
    model_steps: int = Field(default=0, ge=0)
    tool_calls: int = Field(default=0, ge=0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in AMOUNT_FIELDS})

    def minus(self, other: Usage) -> Usage:
        """``self - other`` clamped at zero per field (what remains can never be negative)."""
        return Usage(**{name: max(0, getattr(self, name) - getattr(other, name)) for name in AMOUNT_FIELDS})

    def exceeds(self, other: Usage) -> list[str]:
        """The fields in which ``self`` is larger than ``other`` (empty when it fits)."""
        return [name for name in AMOUNT_FIELDS if getattr(self, name) > getattr(other, name)]

    def is_zero(self) -> bool:
        """True when every field is zero."""
        return all(getattr(self, name) == 0 for name in AMOUNT_FIELDS)


class BudgetLimits(BaseModel):
    """The limits of one task: totals over its whole life, and an absolute UTC deadline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int = Field(ge=0)
    cost_micro_usd: int = Field(ge=0)
    model_steps: int = Field(ge=0)
    tool_calls: int = Field(ge=0)
    deadline: AwareDatetime

    def amounts(self) -> Usage:
        """The amount limits as a :class:`Usage` (everything but the deadline)."""
        return Usage(
            tokens=self.tokens,
            cost_micro_usd=self.cost_micro_usd,
            model_steps=self.model_steps,
            tool_calls=self.tool_calls,
        )


def exceeded_limit(
    limits: BudgetLimits, used: Usage, reserved: Usage, amounts: Usage, now: datetime
) -> LimitName | None:
    """The first limit that ``used + reserved + amounts`` would pass at ``now``, or None if it fits.

    This is the whole budget rule; every backend applies it atomically with the write that reserves
    (the DynamoDB backend encodes it as a condition on per-limit headroom counters).
    """
    if now >= limits.deadline:
        return "deadline"
    committed = used + reserved + amounts
    for name in AMOUNT_FIELDS:
        if getattr(committed, name) > getattr(limits, name):
            return name
    return None
