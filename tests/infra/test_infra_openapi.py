"""infra/openapi.py: the API Gateway definition built from the catalog."""

from __future__ import annotations

import copy
import json

import pytest
from infra_harness import REPO_ROOT

from agentcage.errors import CatalogError
from functions.aws.manifest import LAMBDAS
from infra.openapi import (
    api_definition,
    execute_api_path,
    function_for,
    load_catalog,
    merge_documents,
    operations,
)

CATALOG = load_catalog(REPO_ROOT / "shared" / "catalog")
ARNS = {
    s.name: f"arn:aws:lambda:eu-west-1:123456789012:function:{s.name}" for s in LAMBDAS if s.trigger == "api"
}


def test_every_catalog_operation_is_served_by_a_data_service() -> None:
    routed = {op.operation_id: op.function for op in operations(CATALOG)}
    assert routed == {
        "getCustomer": "customers",
        "listRecentOrders": "orders",
        "assessReturnException": "risk",
        "createRefund": "refunds",
        "negotiateVendorTerms": "vendor",
        "listVolumes": "volumes",
        "getVolume": "volumes",
        "deleteVolume": "volumes",
    }


def test_an_operation_the_manifest_does_not_serve_fails_loudly() -> None:
    with pytest.raises(CatalogError, match="manifest"):
        function_for("redeemLoyaltyPoints")
    documents = copy.deepcopy(CATALOG)
    documents[0]["paths"]["/loyalty"] = {"post": {"operationId": "redeemLoyaltyPoints", "responses": {}}}
    with pytest.raises(CatalogError, match="redeemLoyaltyPoints"):
        api_definition(documents, "t", "eu-west-1", ARNS)


def test_the_definition_adds_integration_auth_and_validation_to_every_operation() -> None:
    body = api_definition(CATALOG, "t", "eu-west-1", ARNS)
    for op in operations(CATALOG):
        method = body["paths"][op.path][op.method]
        integration = method["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert integration["httpMethod"] == "POST"
        assert integration["uri"] == (
            f"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{ARNS[op.function]}/invocations"
        )
        assert method["security"] == [{"sigv4": []}]
    validators = body["x-amazon-apigateway-request-validators"]
    assert validators[body["x-amazon-apigateway-request-validator"]] == {
        "validateRequestBody": True,
        "validateRequestParameters": True,
    }


def test_agentcage_extensions_are_stripped_and_parameter_refs_inlined() -> None:
    text = json.dumps(api_definition(CATALOG, "t", "eu-west-1", ARNS))
    assert "x-agentcage-" not in text
    assert "#/components/parameters/" not in text
    assert "#/components/responses/" not in text
    assert "#/components/schemas/Customer" in text  # schema refs stay: API Gateway turns them into models


def test_the_original_catalog_is_not_modified() -> None:
    before = copy.deepcopy(CATALOG)
    api_definition(CATALOG, "t", "eu-west-1", ARNS)
    assert before == CATALOG


def test_conflicting_schemas_across_documents_are_refused() -> None:
    documents = copy.deepcopy(CATALOG)
    documents[1].setdefault("components", {}).setdefault("schemas", {})["Error"] = {"type": "string"}
    with pytest.raises(CatalogError, match="Error"):
        merge_documents(documents, "t")


def test_a_missing_lambda_arn_is_refused() -> None:
    with pytest.raises(CatalogError, match="refunds"):
        api_definition(CATALOG, "t", "eu-west-1", {k: v for k, v in ARNS.items() if k != "refunds"})


def test_execute_api_paths_replace_path_parameters() -> None:
    assert execute_api_path("get", "/customers/{customer_id}/orders") == "GET/customers/*/orders"
    assert execute_api_path("post", "/refunds") == "POST/refunds"
