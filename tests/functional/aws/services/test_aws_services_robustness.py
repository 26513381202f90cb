"""Across every data service: no 5xx for any input, one error shape, one trace id, one event shape."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from aws_services_support import FIXTURE_TRACE_ID, FakeLambdaContext, invoke, load_event, with_headers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.aws.manifest import LAMBDAS
from functions.aws.services import customers, orders, refunds, risk, vendor, volumes
from functions.aws.services.proxy_events import build_proxy_event

SERVICES = {
    "customers": (customers, "get_customer"),
    "orders": (orders, "list_recent_orders"),
    "risk": (risk, "assess_return_exception"),
    "refunds": (refunds, "create_refund"),
    "vendor": (vendor, "negotiate_vendor_terms"),
    "volumes": (volumes, "get_volume"),
}
ROUTE_PREFIXES = [
    "/customers/",
    "/customers/C-1001/",
    "/risk/",
    "/refunds",
    "/vendors/V-1042/",
    "/volumes/",
    "/",
]
segment = st.text(st.characters(codec="utf-8", exclude_characters="/"), max_size=24)
paths = st.one_of(
    st.builds(lambda prefix, tail: prefix + tail, st.sampled_from(ROUTE_PREFIXES), segment),
    st.builds(lambda a, b: f"/customers/{a}/{b}", segment, st.sampled_from(["orders", "", "x"])),
    st.builds(lambda a: f"/vendors/{a}/negotiations", segment),
    st.text(max_size=40).map(lambda text: "/" + text),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
known_fields = [
    "customer_id",
    "order_id",
    "amount_cents",
    "days_since_purchase",
    "currency",
    "reason",
    "sku",
    "quantity",
    "target_price_cents",
    "note",
]
bodies = st.one_of(
    st.none(),
    st.text(max_size=60),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(known_fields), json_values, max_size=6).map(json.dumps),
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain", "", "application/json; charset=utf-8"]
        ),
        "traceparent": st.one_of(st.text(max_size=60), st.just("00-" + "0" * 32 + "-" + "0" * 16 + "-01")),
        "X-Amzn-Trace-Id": st.text(max_size=60),
        "X-Agentcage-Approval-Id": st.text(max_size=20),
        "X-Agentcage-Args-Digest": st.text(alphabet="0123456789abcdef", min_size=63, max_size=65),
    },
)
query_values = st.one_of(
    st.sampled_from(["0", "5", "50", "51", "ten", "-1", "1e3", "", "env", "dev"]), st.text(max_size=300)
)
content = {
    "headers": headers,
    "queryStringParameters": st.none()
    | st.dictionaries(st.sampled_from(["limit", "tag_key", "tag_value", "x"]), query_values, max_size=3),
    "body": bodies,
    "isBase64Encoded": st.booleans(),
}
# Aimed: the fixture's own method and path, so headers, query and body reach the route's logic.
aimed = st.fixed_dictionaries(content)
# Anywhere: random method and path too, for routing, 404 and 405.
anywhere = st.fixed_dictionaries(
    {
        "httpMethod": st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        "path": paths,
        **content,
    }
)
requests = st.one_of(aimed, anywhere)


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize("service", sorted(SERVICES))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests)
def test_no_input_makes_a_service_answer_5xx(
    service: str, request: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # GIVEN a real fixture event with random method, path, headers, query and body
    module, fixture = SERVICES[service]
    event = {**load_event(fixture), **request, "multiValueHeaders": None}

    # WHEN the service handles it
    answer = invoke(module.handler, event, lambda_context)

    # THEN it never answers 5xx, and every error has the structured shape
    assert answer.status < 500, answer.body
    if answer.status >= 400:
        assert set(answer.body) == {"error"}
        assert isinstance(answer.body["error"]["code"], str)
        assert isinstance(answer.body["error"]["message"], str)
        assert len(answer.body["error"]["trace_id"]) == 32


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize(
    "event",
    [
        {},
        {"httpMethod": "GET"},
        {"httpMethod": 1, "path": "/volumes"},
        {"httpMethod": "GET", "path": "/volumes", "headers": {"a": 1}},
        {"httpMethod": "GET", "path": "/volumes", "queryStringParameters": ["tag_key"]},
        {"httpMethod": "POST", "path": "/refunds", "body": {"not": "a string"}},
    ],
)
def test_an_event_that_is_not_a_proxy_event_is_400(
    event: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    answer = invoke(volumes.handler, event, lambda_context)

    assert answer.status == 400
    assert answer.error_code == "invalid_input"


@pytest.mark.usefixtures("dynamodb")
def test_a_minimal_event_with_null_headers_and_context_is_served(lambda_context: FakeLambdaContext) -> None:
    event = {"httpMethod": "GET", "path": "/volumes", "headers": None, "requestContext": None}

    answer = invoke(volumes.handler, event, lambda_context)

    assert answer.status == 200
    assert len(answer.body["volumes"]) == 5


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_callers_trace_id_is_the_log_correlation_id(
    service: str, lambda_context: FakeLambdaContext, caplog: pytest.LogCaptureFixture
) -> None:
    module, fixture = SERVICES[service]
    module.logger.set_correlation_id("left-over-from-an-earlier-invocation")

    with caplog.at_level("INFO"):
        invoke(module.handler, load_event(fixture), lambda_context)

    handled = [record for record in caplog.records if record.getMessage() == "request handled"]
    assert handled
    # Formatted as Powertools writes it to CloudWatch: the correlation id is the W3C trace id.
    rendered = [json.loads(module.logger.registered_formatter.format(record)) for record in handled]
    assert {line["correlation_id"] for line in rendered} == {FIXTURE_TRACE_ID}
    assert module.logger.get_correlation_id() == FIXTURE_TRACE_ID


@pytest.mark.usefixtures("dynamodb")
def test_x_ray_header_is_the_fallback_and_a_bad_traceparent_starts_a_new_trace(
    lambda_context: FakeLambdaContext,
) -> None:
    base = load_event("get_customer")
    base["path"] = "/customers/C-0000"

    from_xray = invoke(customers.handler, with_headers(base, traceparent=None), lambda_context)
    fresh = invoke(
        customers.handler, with_headers(base, traceparent="garbage", X_Amzn_Trace_Id=None), lambda_context
    )

    assert from_xray.body["error"]["trace_id"] == FIXTURE_TRACE_ID
    assert fresh.body["error"]["trace_id"] != FIXTURE_TRACE_ID
    assert len(fresh.body["error"]["trace_id"]) == 32


@pytest.mark.parametrize(
    "name",
    [
        "get_customer",
        "list_recent_orders",
        "assess_return_exception",
        "create_refund",
        "negotiate_vendor_terms",
        "list_volumes",
        "get_volume",
        "delete_volume",
    ],
)
def test_fixtures_and_built_events_have_the_same_documented_shape(name: str) -> None:
    fixture = load_event(name)

    built = build_proxy_event(
        fixture["httpMethod"],
        fixture["resource"],
        path_parameters=fixture["pathParameters"],
        query=fixture["queryStringParameters"],
        headers=fixture["headers"],
        body=fixture["body"],
    )

    assert set(built) == set(fixture)
    assert set(built["requestContext"]) <= set(fixture["requestContext"])
    assert (built["path"], built["httpMethod"], built["body"]) == (
        fixture["path"],
        fixture["httpMethod"],
        fixture["body"],
    )


@pytest.mark.usefixtures("dynamodb")
def test_built_event_with_a_dict_body_reaches_the_service(lambda_context: FakeLambdaContext) -> None:
    event = build_proxy_event(
        "POST",
        "/risk/return-exceptions",
        body={
            "customer_id": "C-1003",
            "order_id": "O-50003",
            "amount_cents": 249900,
            "days_since_purchase": 9,
        },
    )

    answer = invoke(risk.handler, event, lambda_context)

    assert answer.status == 200
    assert answer.body["band"] == "low"


def _catalog_operations() -> list[tuple[str, str, str]]:
    import yaml

    catalog_dir = Path(__file__).resolve().parents[4] / "shared" / "catalog"
    return sorted(
        (operation["operationId"], method.upper(), path)
        for document in catalog_dir.glob("*.openapi.yaml")
        for path, item in yaml.safe_load(document.read_text())["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    )


EXAMPLE_IDS = {"customer_id": "C-1001", "vendor_id": "V-1042", "volume_id": "vol-0a1b2c3d4e5f60004"}


def test_every_catalog_operation_is_served_by_a_service_handler_in_the_manifest() -> None:
    api_lambdas = [spec for spec in LAMBDAS if spec.trigger == "api"]

    served = {operation for spec in api_lambdas for operation in spec.operations}

    assert served == {operation_id for operation_id, _, _ in _catalog_operations()}


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize(("operation_id", "method", "path"), _catalog_operations())
def test_each_handler_routes_its_catalog_method_and_path(
    operation_id: str, method: str, path: str, lambda_context: FakeLambdaContext
) -> None:
    spec = next(spec for spec in LAMBDAS if operation_id in spec.operations)
    module_name, _, attribute = spec.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    parameters = {name: value for name, value in EXAMPLE_IDS.items() if "{" + name + "}" in path}
    event = build_proxy_event(method, path, path_parameters=parameters, body={} if method == "POST" else None)

    answer = invoke(handler, event, lambda_context)

    # An empty body is refused (400) but the route exists: neither "no route" 404 nor 405.
    assert answer.status in (200, 400), answer.body


@pytest.mark.parametrize(
    "module_name",
    [
        "functions",
        "functions.aws",
        "functions.aws.services",
        *(
            f"functions.aws.services.{name}"
            for name in [
                "api",
                "customers",
                "dependencies",
                "models",
                "orders",
                "proxy_events",
                "refunds",
                "repository",
                "risk",
                "risk_scoring",
                "seed",
                "vendor",
                "volumes",
            ]
        ),
    ],
)
def test_every_module_declares_all_and_each_name_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)

    exported = module.__all__

    assert len(exported) == len(set(exported))
    assert all(hasattr(module, name) for name in exported)
