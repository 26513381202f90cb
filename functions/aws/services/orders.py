"""Lambda ``orders``: ``GET /customers/{customer_id}/orders`` (``listRecentOrders``), newest first."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from agentcage.constants import LOG_LEVEL_ENV
from functions.aws.services.api import build_resolver, path_id, query_int, serve
from functions.aws.services.dependencies import domain_repository
from functions.aws.services.models import CUSTOMER_ID_PATTERN

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["app", "handler"]

logger = Logger(service="orders", level=os.environ.get(LOG_LEVEL_ENV))
app = build_resolver(logger)


@app.get("/customers/<customer_id>/orders")
def list_recent_orders(customer_id: str) -> dict[str, Any]:
    """The customer's most recent orders (``limit`` 1-50, default 10)."""
    customer_id = path_id(customer_id, CUSTOMER_ID_PATTERN, "customer_id")
    limit = query_int(app, "limit", default=10, minimum=1, maximum=50)
    orders = domain_repository().list_orders(customer_id, limit)
    return {
        "customer_id": customer_id,
        "orders": [order.model_dump(mode="json", exclude_none=True) for order in orders],
    }


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``functions.aws.services.orders.handler``)."""
    return serve(app, logger, event, context)
