"""Prices round up once; the model-call bound and the max_tokens clamp never let a call pass a limit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.budget import ModelPrice, Usage, input_token_bound, model_usage, plan_model_call
from agentcage.errors import BudgetExceededError

prices = st.builds(
    ModelPrice,
    input_usd_per_million=st.decimals(min_value=0, max_value=100, places=3),
    output_usd_per_million=st.decimals(min_value=Decimal("0.001"), max_value=200, places=3),
)
GPT4O = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))


def test_cost_is_micro_dollars_rounded_up_once() -> None:
    # 3 tokens at 2.50 USD/M = 7.5 µUSD; 1 token at 10 USD/M = 10 µUSD -> 17.5 -> 18
    assert GPT4O.cost_micro_usd(3, 1) == 18
    assert GPT4O.cost_micro_usd(1_000_000, 0) == 2_500_000
    assert model_usage(GPT4O, 1000, 200) == Usage(tokens=1200, cost_micro_usd=4500, model_steps=1)


@settings(max_examples=200, deadline=None)
@given(price=prices, tokens_in=st.integers(0, 10**7), tokens_out=st.integers(0, 10**6))
def test_cost_is_never_below_the_exact_cost_and_less_than_one_micro_dollar_above(
    price: ModelPrice, tokens_in: int, tokens_out: int
) -> None:
    exact = price.exact_cost(tokens_in, tokens_out)
    charged = price.cost_micro_usd(tokens_in, tokens_out)
    assert exact <= charged < exact + 1


@settings(max_examples=200, deadline=None)
@given(price=prices, tokens_in=st.integers(0, 10**5), remaining=st.integers(0, 10**7))
def test_affordable_output_is_the_largest_that_fits(
    price: ModelPrice, tokens_in: int, remaining: int
) -> None:
    out = price.affordable_output_tokens(tokens_in, remaining)
    assert out is not None
    if price.cost_micro_usd(tokens_in, 0) > remaining:
        assert out == 0
    else:
        assert price.cost_micro_usd(tokens_in, out) <= remaining
        assert price.cost_micro_usd(tokens_in, out + 1) > remaining


def test_input_bound_is_the_utf8_byte_length_unless_a_tokenizer_is_given() -> None:
    text = "Rückerstattung für Bestellung O-1001 — 42,00 €"
    assert input_token_bound(text) == len(text.encode("utf-8"))
    assert input_token_bound(text, overhead_tokens=16) == len(text.encode("utf-8")) + 16
    assert input_token_bound(text.encode("utf-8")) == len(text.encode("utf-8"))
    assert input_token_bound({"messages": [{"content": "hi"}]}) == len(b'{"messages":[{"content":"hi"}]}')
    assert input_token_bound(text, tokenizer=lambda s: 9) == 9


@settings(max_examples=300, deadline=None)
@given(
    price=prices,
    request=st.text(max_size=300),
    remaining_tokens=st.integers(0, 20_000),
    remaining_cost=st.integers(0, 200_000),
    requested=st.integers(1, 8192),
    minimum=st.integers(1, 512),
)
def test_a_planned_call_fits_what_remains_or_is_refused(
    price: ModelPrice, request: str, remaining_tokens: int, remaining_cost: int, requested: int, minimum: int
) -> None:
    remaining = Usage(tokens=remaining_tokens, cost_micro_usd=remaining_cost, model_steps=1)
    try:
        plan = plan_model_call(
            request=request, price=price, remaining=remaining, requested_max_tokens=requested,
            min_useful_output_tokens=minimum,
        )  # fmt: skip
    except BudgetExceededError as refused:
        refused_limit = refused.details["limit"]
        assert refused_limit in {"tokens", "cost_micro_usd"}
        return
    assert plan.reservation.exceeds(remaining) == []
    assert 1 <= plan.max_tokens <= requested
    assert plan.max_tokens >= minimum or plan.max_tokens == requested
    assert plan.reservation.tokens == plan.input_tokens_bound + plan.max_tokens


def test_clamp_names_the_binding_limit() -> None:
    request = "x" * 1000
    by_cost = Usage(tokens=100_000, cost_micro_usd=2600, model_steps=1)  # 1000 in = 2500 µUSD, 10 out left
    by_tokens = Usage(tokens=1100, cost_micro_usd=10**9, model_steps=1)

    with pytest.raises(BudgetExceededError) as cost:
        plan_model_call(request=request, price=GPT4O, remaining=by_cost, requested_max_tokens=500,
                        min_useful_output_tokens=64)  # fmt: skip
    with pytest.raises(BudgetExceededError) as tokens:
        plan_model_call(request=request, price=GPT4O, remaining=by_tokens, requested_max_tokens=500,
                        min_useful_output_tokens=256)  # fmt: skip
    with pytest.raises(BudgetExceededError) as steps:
        plan_model_call(request=request, price=GPT4O, remaining=Usage(tokens=10**6, cost_micro_usd=10**9),
                        requested_max_tokens=500, min_useful_output_tokens=1)  # fmt: skip

    assert cost.value.details["limit"] == "cost_micro_usd"
    assert tokens.value.details["limit"] == "tokens"
    assert steps.value.details["limit"] == "model_steps"
