"""The REST API definition, built from the same OpenAPI catalog the agents' toolsets come from.

The catalog documents (``shared/catalog/*.openapi.yaml``) are merged into one document; every
operation gets an ``aws_proxy`` integration to the Lambda of its data service, IAM (SigV4)
authorization and request validation. Which Lambda serves which operation is declared once, in the
Lambda manifest (``functions/aws/manifest.py`` ``OPERATION_FUNCTIONS``, shared with the local
runtime); an operation it does not cover fails the program instead of deploying an API without it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agentcage.errors import CatalogError
from functions.aws.manifest import OPERATION_FUNCTIONS

__all__ = [
    "HTTP_METHODS",
    "Operation",
    "load_catalog",
    "operations",
    "target_read_operations",
    "function_for",
    "merge_documents",
    "api_definition",
    "execute_api_path",
]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_REQUEST_VALIDATOR = "body-and-parameters"
_LOCAL_REF = re.compile(r"^#/components/(parameters|responses|requestBodies)/([A-Za-z0-9_.-]+)$")


@dataclass(frozen=True)
class Operation:
    """One catalog operation and the data service that serves it."""

    operation_id: str
    method: str
    path: str
    service: str

    @property
    def function(self) -> str:
        """The data service Lambda behind it (from the Lambda manifest)."""
        return function_for(self.operation_id)


def load_catalog(catalog_dir: Path) -> list[dict[str, Any]]:
    """Every ``*.openapi.yaml`` under ``catalog_dir``, in file-name order."""
    files = sorted(catalog_dir.glob("*.openapi.yaml"))
    if not files:
        raise CatalogError(f"no *.openapi.yaml in {catalog_dir}")
    documents = []
    for file in files:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or "paths" not in document:
            raise CatalogError(f"{file.name}: not an OpenAPI document with paths")
        if not isinstance(document.get("x-agentcage-service"), str):
            raise CatalogError(f"{file.name}: x-agentcage-service is required at the document root")
        documents.append(document)
    return documents


def function_for(operation_id: str, table: Mapping[str, str] = OPERATION_FUNCTIONS) -> str:
    """The Lambda that serves ``operation_id``; CatalogError when the manifest names none."""
    try:
        return table[operation_id]
    except KeyError:
        raise CatalogError(f"no Lambda serves {operation_id}: add it to functions/aws/manifest.py") from None


def operations(documents: list[dict[str, Any]]) -> Iterator[Operation]:
    """Every operation of every document."""
    for document in documents:
        service = document["x-agentcage-service"]
        for path, item in document["paths"].items():
            for method in HTTP_METHODS:
                if method in item:
                    yield Operation(item[method]["operationId"], method, path, service)


def target_read_operations(documents: list[dict[str, Any]]) -> list[Operation]:
    """The operations some tool's ``x-agentcage-target.resolve_with`` names, each a GET.

    These are all the coordinator may call on the API (to read a target's tags for the policy); a
    resolver that is not a GET is refused, since the grant is meant to be read-only.
    """
    named: set[str] = set()
    for document in documents:
        for item in document["paths"].values():
            for method in HTTP_METHODS:
                target = item.get(method, {}).get("x-agentcage-target") if method in item else None
                if isinstance(target, dict) and isinstance(target.get("resolve_with"), str):
                    named.add(target["resolve_with"])
    found = [op for op in operations(documents) if op.operation_id in named]
    missing = sorted(named - {op.operation_id for op in found})
    if missing:
        raise CatalogError(f"x-agentcage-target.resolve_with names no catalog operation: {missing}")
    writes = sorted(op.operation_id for op in found if op.method != "get")
    if writes:
        raise CatalogError(f"x-agentcage-target.resolve_with must name GET operations, not {writes}")
    return sorted(found, key=lambda op: op.operation_id)


def _strip_agentcage_extensions(node: Any) -> Any:
    # x-agentcage-* drive the governance library, not the gateway; API Gateway warns on them.
    if isinstance(node, dict):
        return {
            k: _strip_agentcage_extensions(v)
            for k, v in node.items()
            if not str(k).startswith("x-agentcage-")
        }
    if isinstance(node, list):
        return [_strip_agentcage_extensions(v) for v in node]
    return node


def _inline_refs(node: Any, components: Mapping[str, Any]) -> Any:
    # API Gateway's importer resolves schema refs into models but not parameter/response refs.
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and (match := _LOCAL_REF.match(ref)):
            kind, name = match.groups()
            try:
                target = components[kind][name]
            except KeyError:
                raise CatalogError(f"unresolved reference {ref}") from None
            return _inline_refs(copy.deepcopy(target), components)
        return {k: _inline_refs(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, components) for v in node]
    return node


def merge_documents(documents: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """One OpenAPI document with every path and schema; a conflicting duplicate is an error."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for document in documents:
        components = document.get("components", {})
        for name, schema in components.get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                raise CatalogError(
                    f"components.schemas.{name} is defined differently in two catalog documents"
                )
            schemas[name] = schema
        for path, item in document["paths"].items():
            if path in paths:
                raise CatalogError(f"path {path} is defined in two catalog documents")
            paths[path] = _inline_refs(item, components)
    merged = {
        "openapi": "3.0.1",
        "info": {"title": title, "version": "1.0.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    cleaned: dict[str, Any] = _strip_agentcage_extensions(merged)
    return cleaned


def api_definition(
    documents: list[dict[str, Any]], title: str, region: str, function_arns: Mapping[str, str]
) -> dict[str, Any]:
    """The API Gateway body: merged catalog + proxy integrations + SigV4 auth + request validation."""
    merged = merge_documents(documents, title)
    for op in operations(documents):
        function = op.function
        if function not in function_arns:
            raise CatalogError(f"{op.operation_id}: no Lambda ARN for data service {function}")
        target = merged["paths"][op.path][op.method]
        target["security"] = [{"sigv4": []}]
        target["x-amazon-apigateway-request-validator"] = _REQUEST_VALIDATOR
        invocations = f"lambda:path/2015-03-31/functions/{function_arns[function]}/invocations"
        target["x-amazon-apigateway-integration"] = {
            "type": "aws_proxy",
            "httpMethod": "POST",  # Lambda is always invoked with POST, whatever the client's method
            "uri": f"arn:aws:apigateway:{region}:{invocations}",
            "passthroughBehavior": "when_no_match",
        }
    merged["components"]["securitySchemes"] = {
        "sigv4": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    }
    merged["security"] = [{"sigv4": []}]
    merged["x-amazon-apigateway-request-validators"] = {
        _REQUEST_VALIDATOR: {"validateRequestBody": True, "validateRequestParameters": True}
    }
    merged["x-amazon-apigateway-request-validator"] = _REQUEST_VALIDATOR
    return merged


def execute_api_path(method: str, path: str) -> str:
    """``GET/customers/*`` for ``get /customers/{customer_id}``: the tail of an execute-api ARN."""
    return f"{method.upper()}{re.sub(r'{[^}]+}', '*', path)}"
