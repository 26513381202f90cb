"""A tool: one OpenAPI operation, with its argument schema, validator and request builder.

The model sees one flat object of arguments. Path and query parameters are arguments by name; when
the request body is a JSON object its properties are arguments too (flattened), and
:attr:`Tool.locations` records where each one goes so the executor can rebuild the HTTP request. A
body that is not an object (an array, a string) is the single argument ``body``. A name used twice
(a parameter and a body property) fails the catalog load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from agentcage.errors import CatalogError, ToolArgumentsError
from agentcage.tools.openapi import Operation, Parameter, TargetSpec
from agentcage.tools.validation import ArgumentValidator, Problem, to_json_schema

__all__ = ["BODY_ARGUMENT", "Effect", "Tool", "effect_of"]

Effect = Literal["read", "write", "destructive"]
Location = Literal["path", "query", "body"]
BODY_ARGUMENT = "body"
_METHOD_EFFECTS: dict[str, Effect] = {
    "get": "read",
    "head": "read",
    "options": "read",
    "post": "write",
    "put": "write",
    "patch": "write",
    "delete": "destructive",
}


def effect_of(method: str, override: Effect | None = None) -> Effect:
    """The effect of an operation: ``x-agentcage-effect`` if given, else from the HTTP method."""
    return override if override is not None else _METHOD_EFFECTS[method.lower()]


@dataclass(frozen=True, slots=True, eq=False)
class Tool:
    """One operation of the catalog, as an agent's tool."""

    name: str
    service: str
    method: str
    path: str
    description: str
    effect: Effect
    data_classes: frozenset[str]
    egress: bool
    cost: int
    target: TargetSpec | None
    args_schema: dict[str, Any]
    locations: Mapping[str, Location]
    has_body: bool
    whole_body: bool
    validator: ArgumentValidator = field(repr=False)

    @classmethod
    def from_operation(
        cls,
        operation: Operation,
        *,
        service: str,
        method: str,
        path: str,
        shared_parameters: tuple[Parameter, ...] = (),
    ) -> Tool:
        """Build the tool for ``operation`` (``$ref`` already resolved) found at ``method path``."""
        where = f"{operation.operation_id} ({method.upper()} {path})"
        properties: dict[str, Any] = {}
        required: list[str] = []
        locations: dict[str, Location] = {}

        def add(name: str, schema: Mapping[str, Any], location: Location, is_required: bool) -> None:
            if name in locations:
                raise CatalogError(f"{where}: argument {name!r} is defined twice")
            properties[name] = to_json_schema(schema)
            locations[name] = location
            if is_required:
                required.append(name)

        overridden = {p.name for p in operation.parameters}
        params = [p for p in shared_parameters if p.name not in overridden] + list(operation.parameters)
        for param in params:
            if param.location == "path" and not param.required:
                raise CatalogError(f"{where}: path parameter {param.name!r} must be required")
            described = dict(param.schema_)
            if param.description and "description" not in described:
                described["description"] = param.description
            add(param.name, described, param.location, param.required)
        _check_path_template(path, {n for n, loc in locations.items() if loc == "path"}, where)

        body = operation.request_body
        whole_body = False
        if body is not None:
            body_schema = body.content["application/json"].schema_
            if body_schema.get("type") == "object" and "properties" in body_schema:
                body_required = set(body_schema.get("required", ()))
                for name, sub in body_schema["properties"].items():
                    add(name, sub, "body", body.required and name in body_required)
            else:
                whole_body = True
                add(BODY_ARGUMENT, body_schema, "body", body.required)

        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        if operation.target is not None and operation.target.id_argument not in locations:
            raise CatalogError(f"{where}: x-agentcage-target.id_argument names no argument")
        text = " ".join(part.strip() for part in (operation.summary, operation.description) if part)
        return cls(
            name=operation.operation_id,
            service=service,
            method=method.upper(),
            path=path,
            description=text or operation.operation_id,
            effect=effect_of(method, operation.effect),
            data_classes=frozenset(operation.data_classes),
            egress=operation.egress,
            cost=operation.cost,
            target=operation.target,
            args_schema=schema,
            locations=locations,
            has_body=body is not None,
            whole_body=whole_body,
            validator=ArgumentValidator(schema, name=where),
        )

    def problems(self, args: Any) -> list[Problem]:
        """Every problem with proposed ``args`` (empty when valid)."""
        return self.validator.problems(args)

    def check_arguments(self, args: Any) -> None:
        """Raise :class:`ToolArgumentsError` listing every problem when ``args`` are invalid."""
        problems = self.problems(args)
        if problems:
            raise ToolArgumentsError(
                f"invalid arguments for {self.name}: {len(problems)} problem(s)",
                details={"tool": self.name, "problems": [p.to_dict() for p in problems]},
            )

    def build_request(self, args: Mapping[str, Any]) -> tuple[str, str, dict[str, Any], Any]:
        """``(method, path, query, body)`` for validated ``args``: path parameters substituted
        (percent-encoded), query parameters that are present, and the JSON body (``None`` when the
        operation has none)."""
        self.check_arguments(args)
        path = self.path
        query: dict[str, Any] = {}
        body: Any = {} if self.has_body else None
        for name, value in args.items():
            location = self.locations[name]
            if location == "path":
                path = path.replace("{" + name + "}", quote(str(value), safe=""))
            elif location == "query":
                query[name] = value
            elif self.whole_body:
                body = value
            else:
                body[name] = value
        return self.method, path, query, body

    def openai_schema(self) -> dict[str, Any]:
        """The tool as an OpenAI (and Azure OpenAI) chat-completions ``tools`` entry."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.args_schema},
        }

    def bedrock_schema(self) -> dict[str, Any]:
        """The tool as a Bedrock Converse ``toolConfig.tools`` entry."""
        return {
            "toolSpec": {
                "name": self.name,
                "description": self.description,
                "inputSchema": {"json": self.args_schema},
            }
        }


def _check_path_template(path: str, path_params: set[str], where: str) -> None:
    in_template = set(re.findall(r"\{([^{}]+)\}", path))
    if in_template != path_params:
        missing = sorted(in_template - path_params)
        extra = sorted(path_params - in_template)
        raise CatalogError(
            f"{where}: path template and path parameters differ (undeclared: {missing}, unused: {extra})"
        )
