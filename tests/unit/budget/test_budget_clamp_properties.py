"""Worst-case estimates are clamped to what remains (issue 12): properties of ``plan_model_call``.

A reservation larger than what a task has left would either be refused (pinning the task at its limit
although a smaller call fits) or, worse, pass a limit. For any remaining budget, price and request, the
plan either fits in what remains in EVERY field, or is refused because less than a useful answer fits.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.budget import ModelPrice, Usage, plan_model_call
from agentcage.budget.model_calls import input_token_bound
from agentcage.errors import BudgetExceededError

MIN_USEFUL = 64

prices = st.builds(
    ModelPrice,
    input_usd_per_million=st.decimals(min_value=0, max_value=100, places=2, allow_nan=False),
    output_usd_per_million=st.decimals(min_value=0, max_value=400, places=2, allow_nan=False),
)
remainders = st.builds(
    Usage,
    tokens=st.integers(min_value=0, max_value=300_000),
    cost_micro_usd=st.integers(min_value=0, max_value=5_000_000),
    model_steps=st.integers(min_value=0, max_value=5),
    tool_calls=st.integers(min_value=0, max_value=5),
)
requests = st.text(max_size=2_000).map(lambda text: {"messages": [{"role": "user", "content": text}]})


@settings(max_examples=400, deadline=None)
@given(
    price=prices,
    remaining=remainders,
    request=requests,
    requested=st.integers(min_value=1, max_value=200_000),
)
def test_a_plan_fits_what_remains_or_is_refused_only_when_no_useful_answer_fits(
    price: ModelPrice, remaining: Usage, request: dict[str, object], requested: int
) -> None:
    try:
        plan = plan_model_call(
            request=request,
            price=price,
            remaining=remaining,
            requested_max_tokens=requested,
            min_useful_output_tokens=MIN_USEFUL,
        )
    except BudgetExceededError as refused:
        # Refused only when no step is left or less than a useful answer (and less than asked) fits
        bound = input_token_bound(request)
        if refused.details["limit"] == "model_steps":
            assert remaining.model_steps < 1
            return
        fits_tokens = remaining.tokens - bound
        fits_cost = price.affordable_output_tokens(bound, remaining.cost_micro_usd)
        fits = min(fits_tokens, fits_cost if fits_cost is not None else fits_tokens)
        assert fits < MIN_USEFUL
        assert fits < requested
        return
    # The reservation never asks for more than is left, in any field, so it is never refused for size
    assert plan.reservation.exceeds(remaining) == []
    assert 1 <= plan.max_tokens <= requested
    # ... and it is the largest that fits: one more output token would pass the tokens or cost left
    if plan.max_tokens < requested:
        bigger = price.cost_micro_usd(plan.input_tokens_bound, plan.max_tokens + 1)
        assert (
            plan.input_tokens_bound + plan.max_tokens + 1 > remaining.tokens
            or bigger > remaining.cost_micro_usd
        )


def test_a_request_for_far_more_than_is_left_is_clamped_not_refused() -> None:
    price = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
    remaining = Usage(tokens=2_000, cost_micro_usd=1_000_000, model_steps=3)

    plan = plan_model_call(
        request="refund order O-1001",
        price=price,
        remaining=remaining,
        requested_max_tokens=128_000,
        min_useful_output_tokens=MIN_USEFUL,
    )

    assert plan.max_tokens == 2_000 - plan.input_tokens_bound
    assert plan.reservation.tokens == 2_000
