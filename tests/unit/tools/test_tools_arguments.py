"""Argument validation, the model-facing schemas and the request builder."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.errors import ToolArgumentsError
from agentcage.tools import BODY_ARGUMENT, ArgumentValidator, Catalog, parse_document, tools_of

CATALOG_DIR = Path(__file__).resolve().parents[3] / "shared" / "catalog"
REFUND = {
    "customer_id": "C-1001",
    "order_id": "O-20001",
    "amount_cents": 1200,
    "currency": "USD",
    "reason": "damaged",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_TOOLS = list(Catalog.from_directory(CATALOG_DIR).values())


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_directory(CATALOG_DIR)


def test_valid_arguments_have_no_problems(catalog: Catalog) -> None:
    assert catalog["createRefund"].problems(REFUND) == []


def test_every_problem_is_listed_with_its_path_and_keyword(catalog: Catalog) -> None:
    # GIVEN a hallucinated parameter, a missing one and a mistyped one
    args = {**REFUND, "amount_cents": "1200", "refund_all": True}
    del args["currency"]
    # WHEN validated
    problems = {(p.path, p.keyword) for p in catalog["createRefund"].problems(args)}
    # THEN each comes back separately
    assert problems == {("$", "additionalProperties"), ("$", "required"), ("$.amount_cents", "type")}


def test_a_boolean_is_not_an_integer(catalog: Catalog) -> None:
    problems = catalog["listRecentOrders"].problems({"customer_id": "C-1001", "limit": True})
    assert [p.path for p in problems] == ["$.limit"]


def test_check_arguments_raises_with_the_problems(catalog: Catalog) -> None:
    with pytest.raises(ToolArgumentsError) as caught:
        catalog["getCustomer"].check_arguments({"customer_id": 7})
    assert caught.value.details["problems"][0]["path"] == "$.customer_id"


def test_build_request_places_path_query_and_body(catalog: Catalog) -> None:
    assert catalog["listRecentOrders"].build_request({"customer_id": "C-1001", "limit": 3}) == (
        "GET",
        "/customers/C-1001/orders",
        {"limit": 3},
        None,
    )
    method, path, query, body = catalog["negotiateVendorTerms"].build_request(
        {"vendor_id": "V-123", "sku": "AB-1", "quantity": 2, "target_price_cents": 10}
    )
    assert (method, path, query) == ("POST", "/vendors/V-123/negotiations", {})
    assert body == {"sku": "AB-1", "quantity": 2, "target_price_cents": 10}


def test_build_request_percent_encodes_path_values() -> None:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "x-agentcage-service": "s",
        "paths": {
            "/items/{name}": {
                "get": {
                    "operationId": "getItem",
                    "responses": {"200": {"description": "ok"}},
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                }
            }
        },
    }
    (tool,) = tools_of(parse_document(document))
    assert tool.build_request({"name": "a/b c"})[1] == "/items/a%2Fb%20c"


def test_a_non_object_body_is_the_single_argument_body() -> None:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "x-agentcage-service": "s",
        "paths": {
            "/batch": {
                "post": {
                    "operationId": "postBatch",
                    "responses": {"200": {"description": "ok"}},
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": {"type": "integer"}}}
                        },
                    },
                }
            }
        },
    }
    (tool,) = tools_of(parse_document(document))
    assert tool.locations == {BODY_ARGUMENT: "body"}
    assert tool.build_request({"body": [1, 2]}) == ("POST", "/batch", {}, [1, 2])


def test_model_facing_schemas_have_the_provider_shapes(catalog: Catalog) -> None:
    tool = catalog["createRefund"]
    openai = tool.openai_schema()
    assert openai["type"] == "function"
    assert openai["function"]["name"] == "createRefund"
    assert openai["function"]["parameters"]["additionalProperties"] is False
    bedrock = tool.bedrock_schema()["toolSpec"]
    assert bedrock["name"] == "createRefund"
    assert bedrock["inputSchema"]["json"] == tool.args_schema
    assert "approval" in bedrock["description"]


@settings(max_examples=150, deadline=None)
@given(tool_index=st.integers(min_value=0, max_value=len(_TOOLS) - 1), args=json_values)
def test_random_arguments_never_crash_and_agree_with_jsonschema(tool_index: int, args: Any) -> None:
    tool = _TOOLS[tool_index]
    problems = tool.problems(args)
    assert (problems == []) == jsonschema.Draft4Validator(tool.args_schema).is_valid(args)


def _value_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that satisfy one property's schema (the catalog's shapes: enum, pattern, bounded
    integers and strings), so the property below also reaches the valid path."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("type") == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 20), 20))


def _arguments_for(tool_index: int) -> st.SearchStrategy[Any]:
    schema = _TOOLS[tool_index].args_schema
    required = set(schema.get("required", ()))
    values = {name: _value_for(sub) | json_values for name, sub in schema["properties"].items()}
    return st.fixed_dictionaries(
        {name: v for name, v in values.items() if name in required},
        optional={name: v for name, v in values.items() if name not in required},
    )


@settings(max_examples=200, deadline=None)
@given(data=st.data(), tool_index=st.integers(min_value=0, max_value=len(_TOOLS) - 1))
def test_validation_never_changes_the_arguments(data: st.DataObject, tool_index: int) -> None:
    # GIVEN arguments for a catalog tool, valid or nearly so (the path where defaults would be filled)
    args = data.draw(_arguments_for(tool_index) | json_values)
    before = copy.deepcopy(args)
    # WHEN they are validated
    _TOOLS[tool_index].problems(args)
    # THEN they are exactly what they were: no schema default was written into them
    assert args == before


def test_an_omitted_argument_with_a_default_stays_omitted(catalog: Catalog) -> None:
    args = {"customer_id": "C-1001"}
    assert catalog["listRecentOrders"].problems(args) == []
    assert args == {"customer_id": "C-1001"}


@pytest.mark.parametrize(("value", "valid"), [(0.5, False), (5, False), (5.5, True), (6, True)])
def test_the_fast_validator_reads_boolean_exclusive_minimum_as_draft_4(value: float, valid: bool) -> None:
    # Under 2019-09 (fastjsonschema's default) this would read "x >= 5 and x > True" and let 5 through.
    schema = {
        "type": "object",
        "properties": {"x": {"type": "number", "minimum": 5, "exclusiveMinimum": True}},
    }
    problems = ArgumentValidator(schema).problems({"x": value})
    assert (problems == []) is valid
    assert all(p.keyword == "minimum" and p.path == "$.x" for p in problems)
