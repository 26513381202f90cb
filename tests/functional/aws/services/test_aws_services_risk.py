"""risk (assessReturnException): the endpoint, and the scoring function's properties."""

from __future__ import annotations

import pytest
from aws_services_support import FakeLambdaContext, invoke, load_event, with_body, with_headers
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.constants import RISK_THRESHOLD_ENV
from agentcage.errors import ConfigurationError
from functions.aws.services import risk
from functions.aws.services.risk_scoring import TIER_CREDIT, assess_return_exception, risk_threshold

TIERS = ["standard", "silver", "gold", "platinum"]
amounts = st.integers(min_value=1, max_value=100_000_000)
days = st.integers(min_value=0, max_value=3650)
values = st.integers(min_value=0, max_value=10**10)
priors = st.integers(min_value=0, max_value=1000)
tiers = st.sampled_from(TIERS)


def _score(amount: int, days_since: int, value: int, prior: int, tier: str) -> int:
    return assess_return_exception(
        amount_cents=amount,
        days_since_purchase=days_since,
        lifetime_value_cents=value,
        prior_exceptions=prior,
        tier=tier,  # type: ignore[arg-type]
    ).score


@pytest.mark.usefixtures("dynamodb")
def test_dana_whitfields_return_exception_is_low_risk_and_explained(
    lambda_context: FakeLambdaContext,
) -> None:
    # GIVEN Dana (gold, $12,840 value, 1 prior exception) asks to return a $189.99 order 45 days on
    event = load_event("assess_return_exception")

    answer = invoke(risk.handler, event, lambda_context)

    # THEN: 1 (amount) + 15 (days past the window) + 10 (one prior) - 10 (gold) = 16
    assert answer.status == 200
    assert answer.body["score"] == 16
    assert answer.body["band"] == "low"
    assert answer.body["threshold"] == 60
    assert answer.body["within_threshold"] is True
    assert answer.body["reasons"] == [
        "Refund of 189.99 is 1.4% of the customer's lifetime value of 12,840.00 (+1).",
        "Purchase was 45 days ago, 15 days past the 30-day return window (+15).",
        "1 prior return exception (+10).",
        "Gold tier customer (-10).",
        "Score 16 is below the legal risk threshold of 60.",
    ]


@pytest.mark.usefixtures("dynamodb")
def test_threshold_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setenv(RISK_THRESHOLD_ENV, "15")

    answer = invoke(risk.handler, load_event("assess_return_exception"), lambda_context)

    assert answer.body["threshold"] == 15
    assert answer.body["within_threshold"] is False


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"customer_id": "C-1001", "order_id": "O-50001", "amount_cents": 0, "days_since_purchase": 45},
            "amount_cents",
        ),
        (
            {
                "customer_id": "C-1001",
                "order_id": "O-50001",
                "amount_cents": "18999",
                "days_since_purchase": 45,
            },
            "amount_cents",
        ),
        (
            {
                "customer_id": "C-1001",
                "order_id": "O-50001",
                "amount_cents": 18999.5,
                "days_since_purchase": 45,
            },
            "amount_cents",
        ),
        (
            {"customer_id": "C-1001", "order_id": "O-50001", "amount_cents": True, "days_since_purchase": 45},
            "amount_cents",
        ),
        (
            {
                "customer_id": "C-1001",
                "order_id": "O-50001",
                "amount_cents": 18999,
                "days_since_purchase": -1,
            },
            "days_since_purchase",
        ),
        ({"customer_id": "C-1001", "order_id": "O-50001", "amount_cents": 18999}, "days_since_purchase"),
        (
            {"customer_id": "Dana", "order_id": "O-50001", "amount_cents": 18999, "days_since_purchase": 45},
            "customer_id",
        ),
        (
            {
                "customer_id": "C-1001",
                "order_id": "O-50001",
                "amount_cents": 18999,
                "days_since_purchase": 45,
                "approved": True,
            },
            "approved",
        ),
        (
            {
                "customer_id": "C-1001",
                "order_id": "O-50001",
                "amount_cents": 18999,
                "days_since_purchase": 45,
                "reason": "x" * 501,
            },
            "reason",
        ),
    ],
)
def test_invalid_fields_are_400_naming_the_field(
    body: dict[str, object], field: str, lambda_context: FakeLambdaContext
) -> None:
    answer = invoke(risk.handler, with_body(load_event("assess_return_exception"), body), lambda_context)

    assert answer.status == 400
    assert answer.error_code == "invalid_input"
    assert field in [problem["field"] for problem in answer.body["error"]["details"]["problems"]]


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize("body", ["{not json", "", "[1, 2]", "null", '"text"', "{'single': 'quotes'}"])
def test_malformed_bodies_are_400(body: str, lambda_context: FakeLambdaContext) -> None:
    answer = invoke(risk.handler, with_body(load_event("assess_return_exception"), body), lambda_context)

    assert answer.status == 400
    assert answer.error_code == "invalid_input"


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(content_type: str | None, lambda_context: FakeLambdaContext) -> None:
    event = with_headers(load_event("assess_return_exception"), Content_Type=content_type)

    answer = invoke(risk.handler, event, lambda_context)

    assert answer.status == 415
    assert answer.error_code == "unsupported_media_type"


@pytest.mark.usefixtures("dynamodb")
def test_json_with_charset_and_base64_body_are_accepted(lambda_context: FakeLambdaContext) -> None:
    import base64

    event = with_headers(
        load_event("assess_return_exception"), Content_Type="application/json; charset=utf-8"
    )
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True

    answer = invoke(risk.handler, event, lambda_context)

    assert answer.status == 200
    assert answer.body["score"] == 16


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize(
    ("customer_id", "order_id"), [("C-9999", "O-50001"), ("C-1001", "O-99999"), ("C-1002", "O-50001")]
)
def test_unknown_or_someone_elses_order_is_404(
    customer_id: str, order_id: str, lambda_context: FakeLambdaContext
) -> None:
    body = {"customer_id": customer_id, "order_id": order_id, "amount_cents": 100, "days_since_purchase": 3}

    answer = invoke(risk.handler, with_body(load_event("assess_return_exception"), body), lambda_context)

    assert answer.status == 404


@settings(max_examples=200, deadline=None)
@given(amounts, amounts, days, values, priors, tiers)
def test_score_never_falls_as_the_amount_grows(a: int, b: int, d: int, v: int, p: int, t: str) -> None:
    low, high = sorted((a, b))
    assert _score(low, d, v, p, t) <= _score(high, d, v, p, t)


@settings(max_examples=200, deadline=None)
@given(amounts, days, days, values, priors, tiers)
def test_score_never_falls_as_days_since_purchase_grow(
    a: int, d1: int, d2: int, v: int, p: int, t: str
) -> None:
    low, high = sorted((d1, d2))
    assert _score(a, low, v, p, t) <= _score(a, high, v, p, t)


@settings(max_examples=200, deadline=None)
@given(amounts, days, values, priors, priors, tiers)
def test_score_never_falls_as_prior_exceptions_grow(a: int, d: int, v: int, p1: int, p2: int, t: str) -> None:
    low, high = sorted((p1, p2))
    assert _score(a, d, v, low, t) <= _score(a, d, v, high, t)


@settings(max_examples=200, deadline=None)
@given(amounts, days, values, values, priors, tiers)
def test_score_never_rises_as_lifetime_value_grows(a: int, d: int, v1: int, v2: int, p: int, t: str) -> None:
    low, high = sorted((v1, v2))
    assert _score(a, d, high, p, t) <= _score(a, d, low, p, t)


@settings(max_examples=200, deadline=None)
@given(amounts, days, values, priors, tiers, tiers)
def test_score_never_rises_with_a_higher_tier(a: int, d: int, v: int, p: int, t1: str, t2: str) -> None:
    low, high = sorted((t1, t2), key=TIERS.index)
    assert _score(a, d, v, p, high) <= _score(a, d, v, p, low)


@settings(max_examples=200, deadline=None)
@given(amounts, days, values, priors, tiers, st.integers(min_value=0, max_value=100))
def test_score_band_and_threshold_agree(a: int, d: int, v: int, p: int, t: str, threshold: int) -> None:
    result = assess_return_exception(
        amount_cents=a,
        days_since_purchase=d,
        lifetime_value_cents=v,
        prior_exceptions=p,
        tier=t,
        threshold=threshold,  # type: ignore[arg-type]
    )
    assert 0 <= result.score <= 100
    assert result.band == ("high" if result.score >= 60 else "medium" if result.score >= 30 else "low")
    assert result.within_threshold is (result.score < threshold)
    assert len(result.reasons) == 5
    assert result.reasons[3].endswith(f"(-{TIER_CREDIT[t]}).")


def test_worst_case_is_100_and_high() -> None:
    assert _score(100_000_000, 3650, 0, 50, "standard") == 100


@pytest.mark.parametrize("value", ["sixty", "101", "-1"])
def test_invalid_threshold_setting_is_a_configuration_error(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RISK_THRESHOLD_ENV, value)

    with pytest.raises(ConfigurationError):
        risk_threshold()


def test_explicit_threshold_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RISK_THRESHOLD_ENV, "10")

    assert risk_threshold(75) == 75
    assert risk_threshold() == 10
