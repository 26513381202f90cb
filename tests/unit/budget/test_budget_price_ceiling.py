"""A model without a price of its own is bounded by the configured ceiling, or by nothing (refused)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentcage.budget import BudgetConfig, ModelPrice, load_budget_config
from agentcage.errors import ConfigurationError

OWN = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
CEILING = ModelPrice(input_usd_per_million=Decimal("15"), output_usd_per_million=Decimal("60"))


def test_a_model_keeps_its_own_price_and_an_unpriced_one_gets_the_ceiling() -> None:
    config = BudgetConfig(prices={"gpt-4o": OWN}, price_ceiling=CEILING)
    assert config.price_for("gpt-4o") == OWN
    assert config.price_for("unlisted") == CEILING


def test_without_a_ceiling_an_unpriced_model_has_no_bound_and_is_refused_by_name() -> None:
    config = BudgetConfig(prices={"gpt-4o": OWN})
    assert config.bounding_price("unlisted") is None
    with pytest.raises(ConfigurationError, match="'unlisted'") as raised:
        config.price_for("unlisted")
    assert raised.value.details["known"] == ["gpt-4o"]


def test_the_ceiling_is_read_from_the_budget_file() -> None:
    config = load_budget_config(
        {"price_ceiling": {"input_usd_per_million": "15", "output_usd_per_million": "60"}}
    )
    assert config.price_ceiling == CEILING
