"""customers (getCustomer) and orders (listRecentOrders), driven by the API Gateway event fixtures."""

from __future__ import annotations

from typing import Any

import pytest
from aws_services_support import FIXTURE_TRACE_ID, FakeLambdaContext, invoke, load_event, with_path

from functions.aws.services import customers, orders

pytestmark = pytest.mark.usefixtures("dynamodb")


def test_get_customer_returns_profile_and_lifetime_value(lambda_context: FakeLambdaContext) -> None:
    # GIVEN the seeded customer C-1001
    event = load_event("get_customer")

    # WHEN the customers service receives API Gateway's event
    answer = invoke(customers.handler, event, lambda_context)

    # THEN it answers with the profile the catalog's Customer schema describes
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.body == {
        "customer_id": "C-1001",
        "name": "Dana Whitfield",
        "email": "dana.whitfield@example.com",
        "phone": "+1 415 555 0142",
        "tier": "gold",
        "customer_since": "2019-03-14",
        "lifetime_value_cents": 1284000,
        "prior_exceptions": 1,
    }


def test_unknown_customer_is_404_with_the_callers_trace_id(lambda_context: FakeLambdaContext) -> None:
    event = with_path(load_event("get_customer"), "/customers/C-9999", customer_id="C-9999")

    answer = invoke(customers.handler, event, lambda_context)

    assert answer.status == 404
    assert answer.body == {
        "error": {"code": "not_found", "message": "customer C-9999 not found", "trace_id": FIXTURE_TRACE_ID}
    }


@pytest.mark.parametrize("bad_id", ["C-1", "c-1001", "C-123456789", "1001", "C-10x1", "C-1001%0A"])
def test_customer_id_not_matching_the_catalog_pattern_is_400(
    bad_id: str, lambda_context: FakeLambdaContext
) -> None:
    event = with_path(load_event("get_customer"), f"/customers/{bad_id}", customer_id=bad_id)

    answer = invoke(customers.handler, event, lambda_context)

    assert answer.status == 400
    assert answer.error_code == "invalid_input"
    assert answer.body["error"]["details"] == {"parameter": "customer_id"}


def test_other_method_on_a_known_path_is_405_with_allow(lambda_context: FakeLambdaContext) -> None:
    event = load_event("get_customer")
    event["httpMethod"] = "DELETE"

    answer = invoke(customers.handler, event, lambda_context)

    assert answer.status == 405
    assert answer.error_code == "method_not_allowed"
    assert answer.headers["allow"] == "GET"


def test_unknown_route_is_404(lambda_context: FakeLambdaContext) -> None:
    event = with_path(load_event("get_customer"), "/customers/C-1001/secrets")

    answer = invoke(customers.handler, event, lambda_context)

    assert answer.status == 404
    assert answer.error_code == "not_found"


def test_recent_orders_are_newest_first_and_limited(lambda_context: FakeLambdaContext) -> None:
    # GIVEN C-1001 has three seeded orders and the fixture asks for at most 5
    event = load_event("list_recent_orders")

    answer = invoke(orders.handler, event, lambda_context)

    assert answer.status == 200
    assert answer.body["customer_id"] == "C-1001"
    assert [order["order_id"] for order in answer.body["orders"]] == ["O-50112", "O-50001", "O-49877"]
    o_50001 = answer.body["orders"][1]
    assert o_50001["total_cents"] == 18999
    assert o_50001["currency"] == "USD"
    assert o_50001["delivered_at"] == "2025-04-17"
    assert answer.body["orders"][2]["refunded_cents"] == 1500


def test_orders_limit_is_applied(lambda_context: FakeLambdaContext) -> None:
    event = load_event("list_recent_orders")
    event["queryStringParameters"] = {"limit": "1"}

    answer = invoke(orders.handler, event, lambda_context)

    assert [order["order_id"] for order in answer.body["orders"]] == ["O-50112"]


@pytest.mark.parametrize("limit", ["0", "51", "-1", "ten", "1.5", "", "99999999999999999999"])
def test_orders_limit_outside_1_to_50_is_400(limit: str, lambda_context: FakeLambdaContext) -> None:
    event = load_event("list_recent_orders")
    event["queryStringParameters"] = {"limit": limit}

    answer = invoke(orders.handler, event, lambda_context)

    assert answer.status == 400
    assert answer.body["error"]["details"] == {"parameter": "limit"}


def test_orders_of_unknown_customer_is_404(lambda_context: FakeLambdaContext) -> None:
    event = with_path(load_event("list_recent_orders"), "/customers/C-4040/orders", customer_id="C-4040")

    answer = invoke(orders.handler, event, lambda_context)

    assert answer.status == 404


def test_customer_without_orders_gets_an_empty_list(
    lambda_context: FakeLambdaContext, repository: Any
) -> None:
    repository.put(
        "CUSTOMER#C-2000",
        "PROFILE",
        {
            "customer_id": "C-2000",
            "name": "New Customer",
            "tier": "standard",
            "lifetime_value_cents": 0,
            "prior_exceptions": 0,
        },
    )
    event = with_path(load_event("list_recent_orders"), "/customers/C-2000/orders", customer_id="C-2000")

    answer = invoke(orders.handler, event, lambda_context)

    assert answer.status == 200
    assert answer.body == {"customer_id": "C-2000", "orders": []}
