"""Validating a model's proposed arguments against a tool's JSON schema.

Two maintained validators, each for what it is good at: ``fastjsonschema`` compiles the schema to
Python once, so the common case (valid arguments) costs a few microseconds; when it rejects the
arguments, ``jsonschema`` walks them again and lists *every* problem with its path, which is what the
model needs to correct itself in one turn. Both run draft 4, the dialect OpenAPI 3.0 schema objects
are based on (boolean ``exclusiveMinimum``, no ``const``): ``fastjsonschema`` picks its draft from
``$schema`` and would otherwise assume 2019-09, so the compiled copy names draft 4 explicitly.

Validation only reads the arguments. ``fastjsonschema`` by default writes schema ``default`` values
into the object it validates; that is turned off, because the arguments' digest (what an approval
binds to) must be the digest of exactly what the model proposed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastjsonschema
import jsonschema

from agentcage.errors import CatalogError

__all__ = ["ArgumentValidator", "Problem", "to_json_schema"]

_DRAFT4 = "http://json-schema.org/draft-04/schema#"

# OpenAPI 3.0 schema keywords that are documentation or serialisation hints, not JSON Schema.
_OPENAPI_ONLY = frozenset(
    {"example", "xml", "externalDocs", "deprecated", "discriminator", "readOnly", "writeOnly"}
)
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "additionalItems")


def to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 schema object as plain JSON Schema (draft 4): ``nullable`` becomes a type union
    with ``null`` and OpenAPI-only keywords are dropped. ``$ref`` must already be resolved."""
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _OPENAPI_ONLY or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            result[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            result[key] = [to_json_schema(sub) for sub in value]
        elif key in _SCHEMA_VALUES and isinstance(value, Mapping):
            result[key] = to_json_schema(value)
        elif key == "nullable":
            continue
        else:
            result[key] = copy.deepcopy(value)
    if schema.get("nullable") is True:
        if "type" in result:
            kinds = result["type"] if isinstance(result["type"], list) else [result["type"]]
            result["type"] = [*kinds, "null"] if "null" not in kinds else kinds
        if "enum" in result and None not in result["enum"]:
            result["enum"] = [*result["enum"], None]
    return result


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason proposed arguments are invalid: where (a JSON path such as ``$.amount_cents``),
    what is wrong, and the schema keyword that failed."""

    path: str
    message: str
    keyword: str

    def to_dict(self) -> dict[str, str]:
        """The problem as JSON, as it goes back to the model."""
        return {"path": self.path, "message": self.message, "keyword": self.keyword}


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class ArgumentValidator:
    """A compiled validator for one tool's argument schema."""

    __slots__ = ("_fast", "_full", "schema")

    def __init__(self, schema: Mapping[str, Any], *, name: str = "<tool>") -> None:
        self.schema: dict[str, Any] = dict(schema)
        try:
            jsonschema.Draft4Validator.check_schema(self.schema)
        except jsonschema.SchemaError as error:
            where = _json_path(error.absolute_path)
            raise CatalogError(f"{name}: argument schema {where}: {error.message}") from error
        self._full = jsonschema.Draft4Validator(
            self.schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
        )
        try:
            self._fast = fastjsonschema.compile({**self.schema, "$schema": _DRAFT4}, use_default=False)
        except fastjsonschema.JsonSchemaDefinitionException as error:
            raise CatalogError(f"{name}: argument schema: {error}") from error

    def problems(self, args: Any) -> list[Problem]:
        """Every problem with ``args``; empty when they are valid."""
        try:
            self._fast(args)
        except fastjsonschema.JsonSchemaValueException as fast_error:
            found = [
                Problem(_json_path(error.absolute_path), error.message, str(error.validator))
                for error in sorted(self._full.iter_errors(args), key=lambda e: list(map(str, e.path)))
            ]
            if not found:
                # The two validators disagree (a format check only one of them knows): trust the
                # stricter one rather than let the arguments through.
                path = fast_error.path if isinstance(fast_error.path, list) else []
                found = [Problem(_json_path(path[1:]), fast_error.message, str(fast_error.rule))]
            return found
        return []
