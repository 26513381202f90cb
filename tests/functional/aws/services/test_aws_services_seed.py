"""The seed data set and its loader."""

from __future__ import annotations

from datetime import date

import boto3
import pytest
from aws_services_support import DOMAIN_TABLE
from moto import mock_aws

from agentcage.errors import NotFoundError
from functions.aws.services.repository import DomainRepository, create_domain_table
from functions.aws.services.seed import load_seed_data, read_seed_data


def test_fixed_ids_other_components_rely_on(repository: DomainRepository) -> None:
    dana = repository.get_customer("C-1001")
    assert (dana.name, dana.tier, dana.lifetime_value_cents, dana.prior_exceptions) == (
        "Dana Whitfield",
        "gold",
        1284000,
        1,
    )
    assert (dana.email, dana.phone) == ("dana.whitfield@example.com", "+1 415 555 0142")
    assert repository.get_customer("C-1002").tier == "standard"
    assert repository.get_customer("C-1003").tier == "platinum"
    order = repository.get_order("O-50001")
    assert (order.customer_id, order.total_cents, order.currency) == ("C-1001", 18999, "USD")
    assert repository.get_vendor("V-1042").name
    assert repository.get_vendor("V-2001").name
    tags = {volume.volume_id: (volume.name, volume.tags) for volume in repository.list_volumes()}
    assert tags == {
        "vol-0a1b2c3d4e5f60001": ("orders-db-data", {"env": "production-candidate", "team": "orders"}),
        "vol-0a1b2c3d4e5f60002": ("scratch-ci-cache", {"env": "dev", "team": "platform"}),
        "vol-0a1b2c3d4e5f60003": ("payments-ledger", {"environment": "Production"}),
        "vol-0a1b2c3d4e5f60004": ("analytics-tmp", {"stage": "test"}),
        "vol-0a1b2c3d4e5f60005": ("legacy-backup", {"protected": "true", "env": "dev"}),
    }


def test_o_50001_was_delivered_45_days_before_the_reference_date() -> None:
    seed = read_seed_data()
    order = next(o for c in seed.customers for o in c.orders if o.order_id == "O-50001")

    assert seed.reference_date == date(2025, 6, 1)
    assert order.delivered_at is not None
    assert (seed.reference_date - order.delivered_at).days == 45


def test_refunded_amounts_are_derived_from_the_listed_refunds(repository: DomainRepository) -> None:
    assert repository.get_order("O-49877").refunded_cents == 1500
    assert repository.get_order("O-50002").refunded_cents == 3000
    refunded = repository.get_order("O-48810")
    assert (refunded.refunded_cents, refunded.status) == (refunded.total_cents, "refunded")
    seeded_refund = repository.get_refund("R-SEED00000002")
    assert seeded_refund is not None
    assert (seeded_refund.order_id, seeded_refund.customer_id, seeded_refund.amount_cents) == (
        "O-50002",
        "C-1002",
        3000,
    )


def test_loading_twice_keeps_what_changed_unless_asked_to_overwrite() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_domain_table(client, DOMAIN_TABLE)
        create_domain_table(client, DOMAIN_TABLE)  # creating again is harmless
        repository = DomainRepository(client, DOMAIN_TABLE)

        first = load_seed_data(client, DOMAIN_TABLE)
        repository.delete_volume("vol-0a1b2c3d4e5f60004")
        second = load_seed_data(repository)

        assert first == 4 + 7 + 3 + 2 + 5  # customers, orders, refunds, vendors, volumes
        assert second == 0
        with pytest.raises(NotFoundError):
            repository.get_volume("vol-0a1b2c3d4e5f60004")
        assert load_seed_data(client, DOMAIN_TABLE, overwrite=True) == first
        assert repository.get_volume("vol-0a1b2c3d4e5f60004").state == "available"
