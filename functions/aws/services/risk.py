"""Lambda ``risk``: ``POST /risk/return-exceptions`` (``assessReturnException``).

A read although it is a POST: it looks up the customer (value, tier, prior exceptions) and checks the
order is theirs, then scores with :func:`~functions.aws.services.risk_scoring.assess_return_exception`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from agentcage.constants import LOG_LEVEL_ENV
from agentcage.errors import NotFoundError
from functions.aws.services.api import build_resolver, json_body, serve
from functions.aws.services.dependencies import domain_repository
from functions.aws.services.models import RiskRequest
from functions.aws.services.risk_scoring import assess_return_exception, risk_threshold

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["app", "handler"]

logger = Logger(service="risk", level=os.environ.get(LOG_LEVEL_ENV))
app = build_resolver(logger)


@app.post("/risk/return-exceptions")
def assess() -> dict[str, Any]:
    """Score the return exception against the legal risk threshold."""
    request = json_body(app, RiskRequest)
    repository = domain_repository()
    customer = repository.get_customer(request.customer_id)
    order = repository.get_order(request.order_id)
    if order.customer_id != customer.customer_id:
        # Same answer as for a missing order: an agent may not learn whose orders exist.
        raise NotFoundError(f"order {request.order_id} not found for customer {request.customer_id}")
    assessment = assess_return_exception(
        amount_cents=request.amount_cents,
        days_since_purchase=request.days_since_purchase,
        lifetime_value_cents=customer.lifetime_value_cents,
        prior_exceptions=customer.prior_exceptions,
        tier=customer.tier,
        threshold=risk_threshold(),
    )
    logger.info("risk assessed", extra={"score": assessment.score, "band": assessment.band})
    return assessment.model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``functions.aws.services.risk.handler``)."""
    return serve(app, logger, event, context)
