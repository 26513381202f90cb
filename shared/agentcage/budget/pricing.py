"""Model prices and the cost of a model call in integer micro-dollars.

A price quoted in US dollars per million tokens is, numerically, micro-dollars per token
(1 USD / 1e6 tokens = 1 µUSD / token), so the cost of a call is ``input * p_in + output * p_out``
micro-dollars, computed exactly with :class:`~decimal.Decimal` and rounded UP once at the end: the
ledger then never records less than the provider can bill.
"""

from __future__ import annotations

import math
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from agentcage.budget.limits import Usage

__all__ = ["ModelPrice", "model_usage"]


class ModelPrice(BaseModel):
    """The price of one model: US dollars per million input and output tokens (from configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_usd_per_million: Decimal = Field(ge=0)
    output_usd_per_million: Decimal = Field(ge=0)

    def exact_cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        """The exact cost in micro-dollars (not rounded)."""
        return input_tokens * self.input_usd_per_million + output_tokens * self.output_usd_per_million

    def cost_micro_usd(self, input_tokens: int, output_tokens: int) -> int:
        """The cost of a call in integer micro-dollars, rounded up."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token counts cannot be negative")
        return math.ceil(self.exact_cost(input_tokens, output_tokens))

    def affordable_output_tokens(self, input_tokens: int, cost_remaining_micro_usd: int) -> int | None:
        """The most output tokens whose call cost still fits ``cost_remaining``; None if unbounded.

        ``ceil(x) <= R`` holds exactly when ``x <= R`` for an integer ``R``, so the largest ``out``
        with ``in * p_in + out * p_out <= R`` is ``floor((R - in * p_in) / p_out)``.
        """
        left = cost_remaining_micro_usd - input_tokens * self.input_usd_per_million
        if left < 0:
            return 0
        if self.output_usd_per_million == 0:
            return None
        return int(left // self.output_usd_per_million)


def model_usage(price: ModelPrice, input_tokens: int, output_tokens: int) -> Usage:
    """What a finished model call used: its tokens, its cost and one model step."""
    return Usage(
        tokens=input_tokens + output_tokens,
        cost_micro_usd=price.cost_micro_usd(input_tokens, output_tokens),
        model_steps=1,
    )
