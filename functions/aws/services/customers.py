"""Lambda ``customers``: ``GET /customers/{customer_id}`` (``getCustomer``), profile and lifetime value."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from agentcage.constants import LOG_LEVEL_ENV
from functions.aws.services.api import build_resolver, path_id, serve
from functions.aws.services.dependencies import domain_repository
from functions.aws.services.models import CUSTOMER_ID_PATTERN

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["app", "handler"]

logger = Logger(service="customers", level=os.environ.get(LOG_LEVEL_ENV))
app = build_resolver(logger)


@app.get("/customers/<customer_id>")
def get_customer(customer_id: str) -> dict[str, Any]:
    """The customer's profile, tier, lifetime value and prior exceptions."""
    customer = domain_repository().get_customer(path_id(customer_id, CUSTOMER_ID_PATTERN, "customer_id"))
    return customer.model_dump(mode="json", exclude_none=True)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``functions.aws.services.customers.handler``)."""
    return serve(app, logger, event, context)
