"""The data services' pydantic models: request bodies (strict, closed) and domain records.

Request models mirror the catalog's schemas exactly (``additionalProperties: false`` → extra fields
refused; ``strict`` so ``"5"`` is not an integer and ``true`` is not 1). Record models are what the
domain table stores and what the services answer with; they read DynamoDB's ``Decimal`` numbers back
as ``int`` (lax mode) and serialise dates as ISO strings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "CUSTOMER_ID_PATTERN",
    "ORDER_ID_PATTERN",
    "VENDOR_ID_PATTERN",
    "VOLUME_ID_PATTERN",
    "SKU_PATTERN",
    "Tier",
    "RiskRequest",
    "RiskAssessment",
    "RefundRequest",
    "NegotiationRequest",
    "NegotiationOffer",
    "Customer",
    "OrderItem",
    "Order",
    "Refund",
    "Vendor",
    "Volume",
]

# The catalog's path/field patterns (shared/catalog/*.openapi.yaml).
CUSTOMER_ID_PATTERN = r"^C-[0-9]{4,8}$"
ORDER_ID_PATTERN = r"^O-[0-9]{4,10}$"
VENDOR_ID_PATTERN = r"^V-[0-9]{3,6}$"
VOLUME_ID_PATTERN = r"^vol-[0-9a-f]{8,17}$"
SKU_PATTERN = r"^[A-Z0-9-]{3,32}$"

CustomerId = Annotated[str, StringConstraints(pattern=CUSTOMER_ID_PATTERN)]
OrderId = Annotated[str, StringConstraints(pattern=ORDER_ID_PATTERN)]
Tier = Literal["standard", "silver", "gold", "platinum"]
OrderStatus = Literal["placed", "shipped", "delivered", "returned", "refunded"]
Currency = Literal["USD", "EUR", "GBP"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskRequest(_Request):
    """Body of ``POST /risk/return-exceptions`` (``assessReturnException``)."""

    customer_id: CustomerId
    order_id: OrderId
    amount_cents: int = Field(ge=1, le=100_000_000)
    days_since_purchase: int = Field(ge=0, le=3650)
    reason: str = Field(default="", max_length=500)


class RiskAssessment(BaseModel):
    """The explainable outcome of a risk assessment."""

    score: int = Field(ge=0, le=100)
    band: Literal["low", "medium", "high"]
    threshold: int
    within_threshold: bool
    reasons: list[str]


class RefundRequest(_Request):
    """Body of ``POST /refunds`` (``createRefund``)."""

    customer_id: CustomerId
    order_id: OrderId
    amount_cents: int = Field(ge=1, le=100_000_000)
    currency: Currency
    reason: str = Field(min_length=3, max_length=500)


class NegotiationRequest(_Request):
    """Body of ``POST /vendors/{vendor_id}/negotiations`` (``negotiateVendorTerms``)."""

    sku: Annotated[str, StringConstraints(pattern=SKU_PATTERN)]
    quantity: int = Field(ge=1, le=1_000_000)
    target_price_cents: int = Field(ge=1)
    note: str = Field(default="", max_length=1000)


class NegotiationOffer(BaseModel):
    """A vendor's counter-offer."""

    vendor_id: str
    sku: str
    quantity: int
    unit_price_cents: int
    valid_until: date


class Customer(_Record):
    """A customer profile with lifetime value and prior return exceptions."""

    customer_id: CustomerId
    name: str
    email: str | None = None
    phone: str | None = None
    tier: Tier
    customer_since: date | None = None
    lifetime_value_cents: int = Field(ge=0)
    prior_exceptions: int = Field(ge=0)


class OrderItem(_Record):
    """One line of an order."""

    sku: str
    description: str
    quantity: int = Field(ge=1)


class Order(_Record):
    """An order; ``refunded_cents`` is what refunds have already returned of ``total_cents``."""

    order_id: OrderId
    customer_id: CustomerId
    placed_at: date
    delivered_at: date | None = None
    total_cents: int = Field(ge=0)
    currency: Currency
    status: OrderStatus
    refunded_cents: int = Field(default=0, ge=0)
    items: list[OrderItem] = Field(default_factory=list)

    @property
    def refundable_cents(self) -> int:
        """What may still be refunded."""
        return self.total_cents - self.refunded_cents


class Refund(_Record):
    """An issued refund."""

    refund_id: str
    order_id: OrderId
    customer_id: CustomerId
    amount_cents: int = Field(ge=1)
    currency: Currency
    status: Literal["issued"] = "issued"
    reason: str
    approval_id: str | None = None
    issued_at: datetime


class Vendor(_Record):
    """A vendor: list prices per SKU and how far it will go below them."""

    vendor_id: Annotated[str, StringConstraints(pattern=VENDOR_ID_PATTERN)]
    name: str
    max_discount_bps: int = Field(ge=0, le=10_000)
    quote_valid_days: int = Field(ge=1, le=365)
    list_prices_cents: dict[str, int]


class Volume(_Record):
    """A storage volume and its tags; ``deleted_at`` is set once it is deleted."""

    volume_id: Annotated[str, StringConstraints(pattern=VOLUME_ID_PATTERN)]
    name: str
    size_gib: int = Field(ge=1)
    state: Literal["available", "in-use", "deleted"]
    tags: dict[str, str] = Field(default_factory=dict)
    deleted_at: datetime | None = None
