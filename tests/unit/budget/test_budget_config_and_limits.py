"""Limits: the one check, defaults and per-task overrides within the configured ceiling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.budget import BudgetConfig, BudgetLimits, Usage, exceeded_limit, load_budget_config
from agentcage.constants import BUDGET_CONFIG_ENV
from agentcage.errors import ConfigurationError, InvalidInputError

NOW = datetime(2030, 1, 1, tzinfo=UTC)
usages = st.builds(
    Usage,
    tokens=st.integers(0, 1000),
    cost_micro_usd=st.integers(0, 1000),
    model_steps=st.integers(0, 10),
    tool_calls=st.integers(0, 10),
)


@settings(max_examples=300, deadline=None)
@given(limit=usages, used=usages, reserved=usages, amounts=usages)
def test_exceeded_limit_is_none_exactly_when_everything_fits(
    limit: Usage, used: Usage, reserved: Usage, amounts: Usage
) -> None:
    limits = BudgetLimits(**limit.model_dump(), deadline=NOW + timedelta(seconds=1))
    verdict = exceeded_limit(limits, used, reserved, amounts, NOW)
    over = (used + reserved + amounts).exceeds(limit)
    assert (verdict is None) == (over == [])
    assert verdict is None or verdict == over[0]


def test_deadline_is_checked_first() -> None:
    limits = BudgetLimits(tokens=0, cost_micro_usd=0, model_steps=0, tool_calls=0, deadline=NOW)
    assert exceeded_limit(limits, Usage(), Usage(), Usage(tokens=5), NOW) == "deadline"


def test_usage_arithmetic_never_goes_negative() -> None:
    assert Usage(tokens=5).minus(Usage(tokens=9, tool_calls=1)) == Usage()
    assert Usage(tokens=5) + Usage(tokens=2, model_steps=1) == Usage(tokens=7, model_steps=1)
    with pytest.raises(ValueError, match="greater than or equal"):
        Usage(tokens=-1)


def test_limits_use_defaults_and_overrides_within_the_ceiling() -> None:
    config = BudgetConfig()

    limits = config.limits_for({"tokens": 50_000, "deadline_seconds": 60}, NOW)

    assert limits.tokens == 50_000
    assert limits.tool_calls == config.defaults.tool_calls
    assert limits.deadline == NOW + timedelta(seconds=60)


def test_override_above_the_ceiling_is_a_clear_invalid_input() -> None:
    config = BudgetConfig()
    with pytest.raises(InvalidInputError) as raised:
        config.limits_for({"cost_micro_usd": config.ceiling.cost_micro_usd + 1}, NOW)
    assert raised.value.details["limit"] == "cost_micro_usd"
    assert "above the configured ceiling" in raised.value.message


@pytest.mark.parametrize("overrides", [{"tokens": -5}, {"unknown": 1}, {"tokens": "many"}])
def test_malformed_overrides_are_invalid_input(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        BudgetConfig().limits_for(overrides, NOW)


def test_defaults_above_the_ceiling_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        load_budget_config({"defaults": {"tokens": 10, "cost_micro_usd": 1, "model_steps": 1, "tool_calls": 1,
                                         "deadline_seconds": 10**6}})  # fmt: skip


def test_configuration_comes_from_argument_then_environment_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "budget.yaml"
    path.write_text(
        "prices:\n  gpt-4o: {input_usd_per_million: '2.50', output_usd_per_million: '10.00'}\n"
        "loop_threshold: 4\n"
    )
    monkeypatch.delenv(BUDGET_CONFIG_ENV, raising=False)
    assert load_budget_config() == BudgetConfig()

    monkeypatch.setenv(BUDGET_CONFIG_ENV, str(path))
    from_env = load_budget_config()
    assert from_env.loop_threshold == 4
    assert from_env.price_for("gpt-4o").cost_micro_usd(1000, 100) == 3500

    assert load_budget_config({"loop_threshold": 5}).loop_threshold == 5
    with pytest.raises(ConfigurationError):
        from_env.price_for("unpriced-model")
    with pytest.raises(ConfigurationError, match="failure_threshold"):
        load_budget_config({"loop_threshold": 3})  # not above the breaker's 3 failures
    with pytest.raises(ConfigurationError):
        load_budget_config(tmp_path / "missing.yaml")
