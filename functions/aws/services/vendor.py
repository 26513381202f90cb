"""Lambda ``vendor``: ``POST /vendors/{vendor_id}/negotiations`` (``negotiateVendorTerms``), egress.

Stands in for an external vendor's endpoint, and can be told to fail the way the runaway-loop
incident's vendor did. The failure mode is, in order: a control item in the domain table for this
vendor, one for all vendors (so the local runtime can flip it while running, see
:func:`set_vendor_failure_mode`), then ``AGENTCAGE_VENDOR_FAILURE_MODE``, then ``none``:

- ``none``: a counter-offer (never below the vendor's floor, never above its list price);
- ``404`` / ``503``: every call answers that status with a structured body;
- ``404-then-503``: the first call after the mode was set answers 404, every later one 503.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger

from agentcage.constants import LOG_LEVEL_ENV, VENDOR_FAILURE_MODE_ENV
from agentcage.errors import ConfigurationError, InvalidInputError, NotFoundError
from functions.aws.services.api import build_resolver, error_response, json_body, path_id, serve
from functions.aws.services.dependencies import domain_repository, repository_for
from functions.aws.services.models import VENDOR_ID_PATTERN, NegotiationOffer, NegotiationRequest, Vendor
from functions.aws.services.repository import DomainRepository

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["FAILURE_MODES", "app", "counter_offer", "handler", "set_vendor_failure_mode"]

FAILURE_MODES: Final = ("none", "404", "503", "404-then-503")

logger = Logger(service="vendor", level=os.environ.get(LOG_LEVEL_ENV))
app = build_resolver(logger)


def set_vendor_failure_mode(
    client_or_table: Any, mode: str, *, table_name: str | None = None, vendor_id: str | None = None
) -> None:
    """Make one vendor (or, without ``vendor_id``, every vendor) fail as ``mode`` from now on.

    ``client_or_table`` is a DynamoDB client (with ``table_name`` or ``AGENTCAGE_DOMAIN_TABLE``), a
    boto3 ``Table`` resource or a :class:`DomainRepository`. Setting a mode restarts the
    ``404-then-503`` sequence.
    """
    if mode not in FAILURE_MODES:
        raise InvalidInputError(
            f"vendor failure mode must be one of {', '.join(FAILURE_MODES)}, not {mode!r}"
        )
    repository_for(client_or_table, table_name).set_vendor_failure_mode(mode, vendor_id)


def _failure_mode(repository: DomainRepository, vendor_id: str) -> str:
    mode = repository.vendor_failure_mode(vendor_id) or os.environ.get(VENDOR_FAILURE_MODE_ENV) or "none"
    if mode not in FAILURE_MODES:
        raise ConfigurationError(f"vendor failure mode {mode!r} is not one of {', '.join(FAILURE_MODES)}")
    return mode


def counter_offer(vendor: Vendor, request: NegotiationRequest, today: datetime) -> NegotiationOffer:
    """The vendor's answer: the target price, raised to its floor and capped at its list price."""
    list_price = vendor.list_prices_cents.get(request.sku)
    if list_price is None:
        raise NotFoundError(f"vendor {vendor.vendor_id} does not sell {request.sku}")
    # Integer ceiling: the floor is the lowest whole cent at or above list * (1 - max discount).
    floor = -(-list_price * (10_000 - vendor.max_discount_bps) // 10_000)
    return NegotiationOffer(
        vendor_id=vendor.vendor_id,
        sku=request.sku,
        quantity=request.quantity,
        unit_price_cents=min(list_price, max(request.target_price_cents, floor)),
        valid_until=(today + timedelta(days=vendor.quote_valid_days)).date(),
    )


@app.post("/vendors/<vendor_id>/negotiations")
def negotiate(vendor_id: str) -> dict[str, Any] | Response[Any]:
    """Ask the vendor for a price, or answer with the failure it has been told to simulate."""
    vendor_id = path_id(vendor_id, VENDOR_ID_PATTERN, "vendor_id")
    request = json_body(app, NegotiationRequest)
    repository = domain_repository()
    vendor = repository.get_vendor(vendor_id)
    mode = _failure_mode(repository, vendor_id)
    if mode == "404-then-503":
        mode = "404" if repository.count_vendor_call(vendor_id) == 1 else "503"
    if mode == "404":
        logger.warning("vendor failing", extra={"vendor_id": vendor_id, "status": 404})
        return error_response(
            404, "vendor_endpoint_not_found", f"vendor {vendor_id}'s negotiation endpoint was not found"
        )
    if mode == "503":
        logger.warning("vendor failing", extra={"vendor_id": vendor_id, "status": 503})
        return error_response(
            503, "vendor_unavailable", f"vendor {vendor_id} is unavailable", headers={"Retry-After": "60"}
        )
    offer = counter_offer(vendor, request, datetime.now(UTC))
    return offer.model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``functions.aws.services.vendor.handler``)."""
    return serve(app, logger, event, context)
