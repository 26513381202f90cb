"""The seed data set (``seed_data.json``) and its loader, for the local runtime and the tests.

Dates in the file are fixed ISO dates relative to ``reference_date`` (2025-06-01), never to "today",
so every figure derived from them is stable: Dana Whitfield's order O-50001 was delivered on
2025-04-17, 45 days before the reference date, which is the ``days_since_purchase`` the return
exception flow uses (a return window counts from delivery). Refunds already issued are listed under
their order and ``refunded_cents`` is derived from them, so the two never disagree.

Loading is idempotent: by default an item already in the table is kept (state the runtime changed,
such as a deleted volume or a new refund, survives a reload); ``overwrite=True`` restores the seed.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from functions.aws.services.dependencies import repository_for
from functions.aws.services.models import Customer, Order, OrderItem, Refund, Vendor, Volume

__all__ = ["SEED_PATH", "SeedData", "load_seed_data", "read_seed_data"]

SEED_PATH = Path(__file__).with_name("seed_data.json")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeedRefund(_Strict):
    """A refund issued before the reference date."""

    refund_id: str
    amount_cents: int = Field(ge=1)
    reason: str
    issued_at: datetime


class SeedOrder(_Strict):
    """An order as the seed file writes it (under its customer, with its past refunds)."""

    order_id: str
    placed_at: date
    delivered_at: date | None = None
    total_cents: int = Field(ge=0)
    currency: str
    status: str
    items: list[OrderItem] = Field(default_factory=list)
    refunds: list[SeedRefund] = Field(default_factory=list)


class SeedCustomer(Customer):
    """A customer with their orders."""

    orders: list[SeedOrder] = Field(default_factory=list)


class SeedData(_Strict):
    """The whole seed file, validated."""

    reference_date: date
    customers: list[SeedCustomer]
    vendors: list[Vendor]
    volumes: list[Volume]

    def records(self) -> tuple[list[Customer], list[Order], list[Refund]]:
        """Customers, orders (with ``refunded_cents`` derived) and refunds as the services store them."""
        customers: list[Customer] = []
        orders: list[Order] = []
        refunds: list[Refund] = []
        for seeded in self.customers:
            customers.append(Customer.model_validate(seeded.model_dump(exclude={"orders"})))
            for seeded_order in seeded.orders:
                fields: dict[str, Any] = seeded_order.model_dump(exclude={"refunds"})
                refunded = sum(refund.amount_cents for refund in seeded_order.refunds)
                order = Order.model_validate(
                    {**fields, "customer_id": seeded.customer_id, "refunded_cents": refunded}
                )
                orders.append(order)
                refunds.extend(
                    Refund(
                        **refund.model_dump(),
                        order_id=order.order_id,
                        customer_id=order.customer_id,
                        currency=order.currency,
                    )
                    for refund in seeded_order.refunds
                )
        return customers, orders, refunds


def read_seed_data(path: Path | None = None) -> SeedData:
    """The seed file, validated (a typo fails here, not in a test three steps later)."""
    return SeedData.model_validate(json.loads((path or SEED_PATH).read_text(encoding="utf-8")))


def load_seed_data(
    client_or_table: Any,
    table_name: str | None = None,
    *,
    path: Path | None = None,
    overwrite: bool = False,
) -> int:
    """Fill the domain table with the seed data; returns how many records were written (0 on a reload).

    ``client_or_table`` is a DynamoDB client (with ``table_name`` or ``AGENTCAGE_DOMAIN_TABLE``), a
    boto3 ``Table`` resource or a :class:`~functions.aws.services.repository.DomainRepository`.
    """
    repository = repository_for(client_or_table, table_name)
    seed = read_seed_data(path)
    customers, orders, refunds = seed.records()
    written = 0
    for customer in customers:
        attributes = customer.model_dump(mode="json", exclude_none=True)
        written += repository.put(
            f"CUSTOMER#{customer.customer_id}", "PROFILE", attributes, overwrite=overwrite
        )
    for order in orders:
        written += repository.put_order(order, overwrite=overwrite)
    for refund in refunds:
        attributes = refund.model_dump(mode="json", exclude_none=True)
        written += repository.put(f"REFUND#{refund.refund_id}", "META", attributes, overwrite=overwrite)
    for vendor in seed.vendors:
        written += repository.put(
            f"VENDOR#{vendor.vendor_id}", "PROFILE", vendor.model_dump(mode="json"), overwrite=overwrite
        )
    for volume in seed.volumes:
        attributes = volume.model_dump(mode="json", exclude_none=True)
        written += repository.put("VOLUMES", f"VOLUME#{volume.volume_id}", attributes, overwrite=overwrite)
    return written
