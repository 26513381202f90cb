"""The coordinator's read path for target tags: one federated role, execute-api:Invoke on exactly the GET
methods the catalog names as x-agentcage-target.resolve_with, and the settings that point the app at it."""

from __future__ import annotations

import copy
import json

import pytest
from infra_harness import REPO_ROOT, StackRun

from agentcage import constants
from agentcage.errors import CatalogError
from infra.openapi import execute_api_path, load_catalog, target_read_operations
from infra.policy_pack.rules import settings_of

CATALOG = load_catalog(REPO_ROOT / "shared" / "catalog")


def resolvers_named_in_the_catalog() -> set[tuple[str, str]]:
    """(method, path) of every operation some x-agentcage-target names, read straight from the YAML."""
    named = {
        operation["x-agentcage-target"]["resolve_with"]
        for document in CATALOG
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "x-agentcage-target" in operation
    }
    return {
        (method, path)
        for document in CATALOG
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get("operationId") in named
    }


def test_the_reader_role_may_invoke_exactly_the_target_resolving_get_methods(run: StackRun) -> None:
    (api,) = run.of_type("aws:apigateway/restApi:RestApi")
    stage_arn = f"{api.outputs['executionArn']}/{run.stack}/"
    expected = sorted(stage_arn + execute_api_path(m, p) for m, p in resolvers_named_in_the_catalog())
    assert expected == [f"{stage_arn}GET/volumes/*"]  # today: getVolume
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "azure-to-aws-target-reader-policy")
    role = run.one("aws:iam/role:Role", "azure-to-aws-target-reader-role")
    assert policy.inputs["role"] == role.outputs["name"]
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {"Sid": "ReadTargets", "Effect": "Allow", "Action": ["execute-api:Invoke"], "Resource": expected}
    ]


def test_the_coordinator_is_pointed_at_the_reader_role_and_the_api(run: StackRun) -> None:
    (app,) = run.of_type("azure-native:web:WebApp")
    settings = settings_of(app.type, app.inputs)
    role = run.one("aws:iam/role:Role", "azure-to-aws-target-reader-role")
    (stage,) = run.of_type("aws:apigateway/stage:Stage")
    assert settings[constants.TARGET_READER_ROLE_ARN_ENV] == role.outputs["arn"]
    assert settings[constants.API_BASE_URL_ENV] == stage.outputs["invokeUrl"]


def test_a_resolver_that_is_not_a_get_is_refused() -> None:
    documents = copy.deepcopy(CATALOG)
    for document in documents:
        for item in document["paths"].values():
            for operation in item.values():
                if isinstance(operation, dict) and "x-agentcage-target" in operation:
                    operation["x-agentcage-target"]["resolve_with"] = "deleteVolume"
    with pytest.raises(CatalogError, match="must name GET operations"):
        target_read_operations(documents)
    for document in documents:
        for item in document["paths"].values():
            for operation in item.values():
                if isinstance(operation, dict) and "x-agentcage-target" in operation:
                    operation["x-agentcage-target"]["resolve_with"] = "noSuchOperation"
    with pytest.raises(CatalogError, match="names no catalog operation"):
        target_read_operations(documents)
