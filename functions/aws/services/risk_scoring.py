"""The return-exception risk score: deterministic, integer-only, and explained factor by factor.

Four factors add up to a score clamped to 0-100; each gives a reason a person can check:

====================  ==========================================================  ===========
factor                points                                                      range
====================  ==========================================================  ===========
amount vs value       ``amount * 80 // lifetime_value`` (half the value or more = 40)  0 .. 40
policy window         one point per day past the 30-day return window              0 .. 30
prior exceptions      ten per prior exception                                     0 .. 30
tier                  standard 0, silver -5, gold -10, platinum -15              -15 .. 0
====================  ==========================================================  ===========

So the score never falls when the amount, the days or the prior exceptions grow, and never rises
when the lifetime value or the tier grows. Bands: low below 30, medium below 60, high from 60. The
call is *within* the legal risk threshold when the score is strictly below it (default 60).
"""

from __future__ import annotations

import os
from typing import Final, Literal

from agentcage.constants import RISK_THRESHOLD_ENV
from agentcage.errors import ConfigurationError
from functions.aws.services.models import RiskAssessment, Tier

__all__ = [
    "DEFAULT_RISK_THRESHOLD",
    "POLICY_WINDOW_DAYS",
    "TIER_CREDIT",
    "assess_return_exception",
    "risk_threshold",
]

DEFAULT_RISK_THRESHOLD: Final = 60
POLICY_WINDOW_DAYS: Final = 30
TIER_CREDIT: Final[dict[str, int]] = {"standard": 0, "silver": 5, "gold": 10, "platinum": 15}

Band = Literal["low", "medium", "high"]

_AMOUNT_MAX: Final = 40
_WINDOW_MAX: Final = 30
_PER_EXCEPTION: Final = 10
_EXCEPTIONS_MAX: Final = 30
_MEDIUM_FROM: Final = 30
_HIGH_FROM: Final = 60


def risk_threshold(explicit: int | None = None) -> int:
    """The legal risk threshold: the argument, else ``AGENTCAGE_RISK_THRESHOLD``, else 60."""
    if explicit is not None:
        value: int | str = explicit
    else:
        value = os.environ.get(RISK_THRESHOLD_ENV, "").strip() or DEFAULT_RISK_THRESHOLD
    try:
        threshold = int(value)
    except ValueError as error:
        raise ConfigurationError(f"{RISK_THRESHOLD_ENV} must be an integer, not {value!r}") from error
    if not 0 <= threshold <= 100:
        raise ConfigurationError(f"the risk threshold must be within 0-100, not {threshold}")
    return threshold


def _money(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


def _band(score: int) -> Band:
    if score >= _HIGH_FROM:
        return "high"
    return "medium" if score >= _MEDIUM_FROM else "low"


def assess_return_exception(
    *,
    amount_cents: int,
    days_since_purchase: int,
    lifetime_value_cents: int,
    prior_exceptions: int,
    tier: Tier,
    threshold: int = DEFAULT_RISK_THRESHOLD,
) -> RiskAssessment:
    """Score a return exception and say why, factor by factor."""
    reasons: list[str] = []

    amount_points = min(_AMOUNT_MAX, amount_cents * 2 * _AMOUNT_MAX // max(lifetime_value_cents, 1))
    if lifetime_value_cents > 0:
        share = amount_cents * 1000 // lifetime_value_cents
        reasons.append(
            f"Refund of {_money(amount_cents)} is {share // 10}.{share % 10}% of the customer's lifetime "
            f"value of {_money(lifetime_value_cents)} (+{amount_points})."
        )
    else:
        reasons.append(
            f"The customer has no lifetime value to set a refund of {_money(amount_cents)} "
            f"against (+{amount_points})."
        )

    days_late = max(0, days_since_purchase - POLICY_WINDOW_DAYS)
    window_points = min(_WINDOW_MAX, days_late)
    if days_late:
        reasons.append(
            f"Purchase was {days_since_purchase} days ago, {days_late} days past the "
            f"{POLICY_WINDOW_DAYS}-day return window (+{window_points})."
        )
    else:
        reasons.append(
            f"Purchase was {days_since_purchase} days ago, within the {POLICY_WINDOW_DAYS}-day "
            "return window (+0)."
        )

    exception_points = min(_EXCEPTIONS_MAX, prior_exceptions * _PER_EXCEPTION)
    noun = "exception" if prior_exceptions == 1 else "exceptions"
    reasons.append(f"{prior_exceptions} prior return {noun} (+{exception_points}).")

    credit = TIER_CREDIT[tier]
    reasons.append(f"{tier.capitalize()} tier customer (-{credit}).")

    score = max(0, min(100, amount_points + window_points + exception_points - credit))
    within = score < threshold
    relation = "below" if within else "at or above"
    reasons.append(f"Score {score} is {relation} the legal risk threshold of {threshold}.")
    return RiskAssessment(
        score=score, band=_band(score), threshold=threshold, within_threshold=within, reasons=reasons
    )
