"""vendor (negotiateVendorTerms): a counter-offer, or the failure it was told to simulate."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from aws_services_support import DOMAIN_TABLE, FakeLambdaContext, invoke, load_event, with_body, with_path

from agentcage.constants import VENDOR_FAILURE_MODE_ENV
from agentcage.errors import InvalidInputError
from functions.aws.services import vendor
from functions.aws.services.repository import DomainRepository

pytestmark = pytest.mark.usefixtures("dynamodb")


def _call(context: FakeLambdaContext, vendor_id: str = "V-1042") -> int:
    event = with_path(
        load_event("negotiate_vendor_terms"), f"/vendors/{vendor_id}/negotiations", vendor_id=vendor_id
    )
    return invoke(vendor.handler, event, context).status


def test_healthy_vendor_counters_at_its_floor(lambda_context: FakeLambdaContext) -> None:
    # GIVEN V-1042 lists WIDGET-100 at 1250 and discounts at most 8% (floor 1150); the target is 1100
    answer = invoke(vendor.handler, load_event("negotiate_vendor_terms"), lambda_context)

    assert answer.status == 200
    assert answer.body["vendor_id"] == "V-1042"
    assert answer.body["sku"] == "WIDGET-100"
    assert answer.body["unit_price_cents"] == 1150
    valid_until = datetime.strptime(answer.body["valid_until"], "%Y-%m-%d").replace(tzinfo=UTC).date()
    assert (valid_until - datetime.now(UTC).date()).days == 14


@pytest.mark.parametrize(("target", "expected"), [(1200, 1200), (5000, 1250), (1, 1150)])
def test_offer_is_the_target_between_floor_and_list_price(
    target: int, expected: int, lambda_context: FakeLambdaContext
) -> None:
    event = with_body(
        load_event("negotiate_vendor_terms"),
        {"sku": "WIDGET-100", "quantity": 10, "target_price_cents": target},
    )

    assert invoke(vendor.handler, event, lambda_context).body["unit_price_cents"] == expected


def test_unknown_vendor_and_unknown_sku_are_404(lambda_context: FakeLambdaContext) -> None:
    assert _call(lambda_context, "V-9999") == 404
    event = with_body(
        load_event("negotiate_vendor_terms"), {"sku": "CABLE-USB-C", "quantity": 1, "target_price_cents": 500}
    )
    assert invoke(vendor.handler, event, lambda_context).status == 404


@pytest.mark.parametrize(
    "body",
    [
        {"sku": "widget-100", "quantity": 1, "target_price_cents": 1},
        {"sku": "WIDGET-100", "quantity": 0, "target_price_cents": 1},
        {"sku": "WIDGET-100", "quantity": 1, "target_price_cents": 0},
        {"sku": "WIDGET-100", "quantity": 1},
        {
            "sku": "WIDGET-100",
            "quantity": 1,
            "target_price_cents": 1,
            "customer_email": "dana.whitfield@example.com",
        },
    ],
)
def test_malformed_negotiation_is_400(body: dict[str, object], lambda_context: FakeLambdaContext) -> None:
    assert (
        invoke(vendor.handler, with_body(load_event("negotiate_vendor_terms"), body), lambda_context).status
        == 400
    )


def test_vendor_id_outside_the_pattern_is_400(lambda_context: FakeLambdaContext) -> None:
    assert _call(lambda_context, "vendor-1") == 400


@pytest.mark.parametrize(
    ("mode", "statuses"),
    [("404", [404, 404, 404]), ("503", [503, 503, 503]), ("404-then-503", [404, 503, 503])],
)
def test_failure_mode_from_a_control_item(
    mode: str, statuses: list[int], dynamodb: object, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN the local runtime flips V-1042 into a failure mode while running
    vendor.set_vendor_failure_mode(dynamodb, mode, table_name=DOMAIN_TABLE, vendor_id="V-1042")

    # THEN V-1042 fails as told, with structured bodies, and V-2001 stays healthy
    assert [_call(lambda_context) for _ in statuses] == statuses
    assert _call(lambda_context, "V-2001") == 200


def test_failure_body_is_structured_and_503_says_when_to_retry(
    repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    vendor.set_vendor_failure_mode(repository, "503")

    answer = invoke(vendor.handler, load_event("negotiate_vendor_terms"), lambda_context)

    assert answer.status == 503
    assert answer.body["error"]["code"] == "vendor_unavailable"
    assert answer.body["error"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert answer.headers["retry-after"] == "60"


def test_setting_the_mode_again_restarts_404_then_503(
    repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    vendor.set_vendor_failure_mode(repository, "404-then-503", vendor_id="V-1042")
    assert [_call(lambda_context) for _ in range(2)] == [404, 503]

    vendor.set_vendor_failure_mode(repository, "404-then-503", vendor_id="V-1042")

    assert _call(lambda_context) == 404


def test_mode_for_all_vendors_and_a_vendor_override(
    repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    vendor.set_vendor_failure_mode(repository, "503")
    vendor.set_vendor_failure_mode(repository, "none", vendor_id="V-2001")

    assert (_call(lambda_context, "V-1042"), _call(lambda_context, "V-2001")) == (503, 200)


def test_table_resource_is_accepted(lambda_context: FakeLambdaContext) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(DOMAIN_TABLE)

    vendor.set_vendor_failure_mode(table, "404", vendor_id="V-1042")

    assert _call(lambda_context) == 404


def test_failure_mode_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setenv(VENDOR_FAILURE_MODE_ENV, "404-then-503")
    assert [_call(lambda_context) for _ in range(3)] == [404, 503, 503]

    # a control item wins over the environment
    vendor.set_vendor_failure_mode(repository, "none", vendor_id="V-1042")
    assert _call(lambda_context) == 200


def test_unknown_failure_mode_is_refused(repository: DomainRepository) -> None:
    with pytest.raises(InvalidInputError, match="404-then-503"):
        vendor.set_vendor_failure_mode(repository, "sometimes")
