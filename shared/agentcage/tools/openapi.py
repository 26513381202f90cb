"""Reading OpenAPI 3.0 documents: YAML, local ``$ref`` resolution, and a structural check.

Only the part of OpenAPI the catalog uses is modelled (operations, path and query parameters, JSON
request bodies and the ``x-agentcage-*`` extensions), with pydantic, so that a problem is reported
with the path where it is (``paths./refunds.post.x-agentcage-effect: ...``). The full OpenAPI
meta-schema check (openapi-spec-validator) is a dev-only dependency and runs in the unit tests over
the shipped catalog; the library does not need it at run time.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentcage.errors import CatalogError

__all__ = [
    "HTTP_METHODS",
    "OpenAPIDocument",
    "Operation",
    "Parameter",
    "TargetSpec",
    "load_document",
    "parse_document",
    "resolve_refs",
]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# The same rule as agentcage.envelopes' ToolName, and what Bedrock's toolSpec.name accepts.
OPERATION_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
_MAX_REF_DEPTH = 64


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class TargetSpec(BaseModel):
    """``x-agentcage-target``: how to resolve the resource a call acts on (and its tags)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_argument: str = Field(min_length=1, description="the argument naming the target")
    resolve_with: str = Field(pattern=OPERATION_ID_PATTERN, description="the read tool returning it")
    tags_field: str = Field(default="tags", min_length=1, description="the field of that result")


class Parameter(_Model):
    """A path or query parameter (header and cookie parameters are refused: tools never send them)."""

    name: str = Field(min_length=1)
    location: Literal["path", "query"] = Field(alias="in")
    required: bool = False
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")


class MediaType(_Model):
    """One entry of a request body's ``content``."""

    schema_: dict[str, Any] = Field(alias="schema")


class RequestBody(_Model):
    """A JSON request body."""

    required: bool = False
    description: str | None = None
    content: dict[str, MediaType]

    @field_validator("content")
    @classmethod
    def _json_only(cls, content: dict[str, MediaType]) -> dict[str, MediaType]:
        if "application/json" not in content:
            raise ValueError("a request body must offer application/json")
        return content


class Operation(_Model):
    """One OpenAPI operation: a tool."""

    operation_id: str = Field(alias="operationId", pattern=OPERATION_ID_PATTERN)
    summary: str | None = None
    description: str | None = None
    parameters: tuple[Parameter, ...] = ()
    request_body: RequestBody | None = Field(default=None, alias="requestBody")
    responses: dict[str, Any] = Field(min_length=1)
    effect: Literal["read", "write", "destructive"] | None = Field(default=None, alias="x-agentcage-effect")
    data_classes: tuple[str, ...] = Field(default=(), alias="x-agentcage-data-classes")
    egress: bool = Field(default=False, alias="x-agentcage-egress")
    cost: int = Field(default=1, ge=0, alias="x-agentcage-cost")
    target: TargetSpec | None = Field(default=None, alias="x-agentcage-target")

    @field_validator("data_classes")
    @classmethod
    def _lower_identifiers(cls, classes: tuple[str, ...]) -> tuple[str, ...]:
        for name in classes:
            if not name.isidentifier() or name != name.lower():
                raise ValueError(f"data class {name!r} must be a lowercase identifier")
        return classes


class PathItem(_Model):
    """The operations under one path, plus parameters shared by all of them."""

    parameters: tuple[Parameter, ...] = ()
    get: Operation | None = None
    put: Operation | None = None
    post: Operation | None = None
    delete: Operation | None = None
    patch: Operation | None = None
    head: Operation | None = None
    options: Operation | None = None


class Info(_Model):
    """The document's ``info`` object."""

    title: str
    version: str


class OpenAPIDocument(_Model):
    """A catalog document, after ``$ref`` resolution."""

    openapi: str = Field(pattern=r"^3\.0\.\d+$")
    info: Info
    service: str = Field(alias="x-agentcage-service", pattern=r"^[a-z][a-z0-9-]{0,62}$")
    paths: dict[str, PathItem] = Field(min_length=1)

    @field_validator("paths")
    @classmethod
    def _paths_start_with_slash(cls, paths: dict[str, PathItem]) -> dict[str, PathItem]:
        for path in paths:
            if not path.startswith("/"):
                raise ValueError(f"path {path!r} must start with '/'")
        return paths


def _follow(document: Mapping[str, Any], ref: str, where: str) -> Any:
    if not ref.startswith("#/"):
        raise CatalogError(f"{where}: only local references are supported, not {ref!r}")
    node: Any = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise CatalogError(f"{where}: reference {ref!r} points at nothing")
        node = node[part]
    return node


def resolve_refs(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with every local ``$ref`` replaced by what it points at.

    Recursive schemas are refused: a tool's arguments are a finite tree, and the model-facing schema
    has to be self-contained.
    """

    def walk(node: Any, where: str, active: tuple[str, ...]) -> Any:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if ref in active or len(active) >= _MAX_REF_DEPTH:
                    raise CatalogError(f"{where}: recursive reference {ref!r} is not supported")
                return walk(_follow(document, ref, where), where, (*active, ref))
            return {key: walk(value, f"{where}.{key}", active) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, f"{where}[{index}]", active) for index, item in enumerate(node)]
        return copy.copy(node)

    resolved = walk(document, "$", ())
    if not isinstance(resolved, dict):
        raise CatalogError("$: an OpenAPI document must be a mapping")
    return resolved


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or "$"


def parse_document(raw: Any, *, source: str = "<document>") -> OpenAPIDocument:
    """Resolve references and check the structure; :class:`CatalogError` names the problem's path."""
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{source}: an OpenAPI document must be a mapping")
    resolved = resolve_refs(raw)
    try:
        return OpenAPIDocument.model_validate(resolved)
    except ValidationError as error:
        first = error.errors()[0]
        where = _location(tuple(first["loc"]))
        raise CatalogError(
            f"{source}: {where}: {first['msg']}",
            details={"source": source, "path": where, "problems": len(error.errors())},
        ) from error


def load_document(path: Path) -> OpenAPIDocument:
    """Read and check one ``*.openapi.yaml`` file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CatalogError(f"{path.name}: cannot read: {error}", details={"source": str(path)}) from error
    return parse_document(raw, source=path.name)
