"""The HTTP plumbing every data service shares: one resolver setup, one error shape, one trace.

Each service module builds its resolver with :func:`build_resolver`, registers its routes, and its
``handler`` calls :func:`serve`. What this module guarantees for all of them:

- every error body is ``{"error": {"code", "message", "trace_id"}}`` (plus ``details`` when there
  are any), with the status of the :mod:`agentcage.errors` class that was raised;
- an unknown path answers 404, a known path with another method 405 (with ``Allow``), a body that is
  not JSON 415, a malformed body or field 400; only a bug answers 500;
- the trace id is the caller's W3C ``traceparent`` (or the X-Ray header API Gateway adds, or a new
  one), and it is the Powertools Logger's correlation id for the whole invocation.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFoundError
from pydantic import BaseModel, ValidationError

from agentcage.errors import (
    AgentcageError,
    InvalidInputError,
    MethodNotAllowedError,
    NotFoundError,
    TraceContextError,
    UnsupportedMediaTypeError,
)
from agentcage.trace import TraceContext, bound_context, current_context, extract_http, from_xray_header

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = [
    "ServiceResolver",
    "build_resolver",
    "error_response",
    "json_body",
    "path_id",
    "query_int",
    "query_str",
    "serve",
]

ModelT = TypeVar("ModelT", bound=BaseModel)

_XRAY_HEADER = "x-amzn-trace-id"
_ROUTE_PARAMETER = re.compile(r"<\w+>")


class ServiceResolver(APIGatewayRestResolver):
    """Powertools' REST resolver that also remembers each rule's methods, to answer 405 with ``Allow``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rule_methods: dict[str, tuple[re.Pattern[str], set[str]]] = {}

    def route(self, rule: str, method: str | list[str] | tuple[str], *args: Any, **kwargs: Any) -> Any:
        """Register a route (Powertools' signature) and note its method for the 405 answer."""
        methods = (method,) if isinstance(method, str) else tuple(method)
        pattern = re.compile("[^/]+".join(re.escape(part) for part in _ROUTE_PARAMETER.split(rule)) + "/?")
        _, known = self._rule_methods.setdefault(rule, (pattern, set()))
        known.update(m.upper() for m in methods)
        return super().route(rule, method, *args, **kwargs)

    def allowed_methods(self, path: str) -> list[str]:
        """The methods some route accepts on ``path`` (empty when no route matches it)."""
        allowed: set[str] = set()
        for pattern, methods in self._rule_methods.values():
            if pattern.fullmatch(path):
                allowed.update(methods)
        return sorted(allowed)


def _trace_id() -> str | None:
    return current_context().trace_id


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    """A structured JSON error response carrying the current trace id."""
    error: dict[str, Any] = {"code": code, "message": message, "trace_id": _trace_id()}
    if details:
        error["details"] = dict(details)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": error},
        headers=dict(headers or {}),
    )


def _problems(error: ValidationError) -> list[dict[str, str]]:
    # Field and problem only: pydantic's "input" would echo the caller's data (possibly PII) back.
    return [
        {"field": ".".join(str(part) for part in item["loc"]) or "(body)", "problem": item["msg"]}
        for item in error.errors(include_url=False, include_input=False)
    ]


def build_resolver(logger: Logger) -> ServiceResolver:
    """A resolver whose every failure answers with the structured error body."""
    app = ServiceResolver()

    def agentcage_error(error: AgentcageError) -> Response[Any]:
        if error.status >= 500:
            logger.error("service error", exc_info=error, extra={"code": error.code})
        headers = {}
        if isinstance(error, MethodNotAllowedError):
            headers["Allow"] = ", ".join(error.details.get("allow", []))
        return error_response(error.status, error.code, error.message, details=error.details, headers=headers)

    def validation_error(error: ValidationError) -> Response[Any]:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            return error_response(400, InvalidInputError.code, "request body is not valid JSON")
        return error_response(
            400,
            InvalidInputError.code,
            f"request body failed validation ({error.error_count()} problem(s))",
            details={"problems": _problems(error)},
        )

    def route_not_found(_: RouteNotFoundError) -> Response[Any]:
        event = app.current_event
        allowed = app.allowed_methods(event.path)
        if allowed:
            raise MethodNotAllowedError(
                f"{event.http_method} is not allowed on {event.path}", details={"allow": allowed}
            )
        raise NotFoundError(f"no route {event.http_method} {event.path}")

    def unexpected(error: Exception) -> Response[Any]:
        # A bug, not bad input: log it with its traceback and answer without internals.
        logger.error("unhandled error", exc_info=error)
        return error_response(500, AgentcageError.code, "internal error")

    # Registered by call, not as decorators: Powertools' exception_handler is untyped.
    app.exception_handler(AgentcageError)(agentcage_error)
    app.exception_handler(ValidationError)(validation_error)
    app.not_found(route_not_found)
    app.exception_handler(Exception)(unexpected)
    return app


def json_body(app: APIGatewayRestResolver, model: type[ModelT]) -> ModelT:
    """The request body parsed and validated as ``model``: 415 unless JSON, 400 if malformed."""
    event = app.current_event
    media_type = (event.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media_type != content_types.APPLICATION_JSON and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/json, not {media_type or 'missing'}",
            details={"accept": [content_types.APPLICATION_JSON]},
        )
    raw = event.body
    if not raw:
        raise InvalidInputError("a JSON request body is required")
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError) as error:
            raise InvalidInputError("request body is not valid base64-encoded UTF-8") from error
    return model.model_validate_json(raw)


def path_id(value: str | None, pattern: str, name: str) -> str:
    """A path parameter checked against the catalog's pattern (400 when it does not match)."""
    if value is None or not re.fullmatch(pattern, value):
        raise InvalidInputError(f"{name} must match {pattern}", details={"parameter": name})
    return value


def query_str(app: APIGatewayRestResolver, name: str, *, max_length: int) -> str | None:
    """An optional query string parameter, at most ``max_length`` characters."""
    value = app.current_event.query_string_parameters.get(name)
    if value is not None and len(value) > max_length:
        raise InvalidInputError(f"{name} is longer than {max_length} characters", details={"parameter": name})
    return value


def query_int(app: APIGatewayRestResolver, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """An optional integer query parameter within ``[minimum, maximum]``."""
    raw = app.current_event.query_string_parameters.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not minimum <= int(raw) <= maximum:
        raise InvalidInputError(
            f"{name} must be an integer from {minimum} to {maximum}", details={"parameter": name}
        )
    return int(raw)


def _string_map(value: object) -> bool:
    return value is None or (
        isinstance(value, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )


def _shape_problem(event: object) -> str | None:
    """Why ``event`` is not an API Gateway REST proxy event Powertools can route, or ``None``."""
    if not isinstance(event, Mapping):
        return "event is not an object"
    if not isinstance(event.get("httpMethod"), str) or not isinstance(event.get("path"), str):
        return "event lacks httpMethod or path"
    if not isinstance(event.get("body"), str | None):
        return "body must be a string"
    for name in ("headers", "queryStringParameters", "pathParameters"):
        if not _string_map(event.get(name)):
            return f"{name} must map strings to strings"
    return None


def _incoming_trace(headers: Mapping[str, str]) -> TraceContext:
    found = extract_http(headers)
    if found is None:
        xray = next((v for k, v in headers.items() if k.lower() == _XRAY_HEADER), None)
        if xray:
            try:
                found = from_xray_header(xray)
            except TraceContextError:
                found = None
    # This invocation is a new span in the caller's trace (or the first span of a new one).
    return found.child() if found is not None else TraceContext.new()


def serve(
    app: APIGatewayRestResolver, logger: Logger, event: Mapping[str, Any], context: LambdaContext
) -> dict[str, Any]:
    """Resolve one API Gateway REST proxy event with the trace bound and the logger correlated."""
    headers = event.get("headers") if isinstance(event, Mapping) else None
    trace = _incoming_trace(headers if _string_map(headers) and headers else {})
    logger.set_correlation_id(trace.trace_id)
    with bound_context(trace=trace):
        problem = _shape_problem(event)
        if problem is not None:
            logger.warning("malformed proxy event", extra={"problem": problem})
            return {
                "statusCode": 400,
                "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "body": json.dumps(
                    {
                        "error": {
                            "code": InvalidInputError.code,
                            "message": problem,
                            "trace_id": trace.trace_id,
                        }
                    }
                ),
                "isBase64Encoded": False,
            }
        # Powertools reads headers/query as dicts; API Gateway sends null when there are none.
        normalized = {
            **event,
            "headers": event.get("headers") or {},
            "queryStringParameters": event.get("queryStringParameters") or None,
        }
        response = app.resolve(normalized, context)
        logger.info(
            "request handled",
            extra={
                "method": event["httpMethod"],
                "path": event["path"],
                "status": response.get("statusCode"),
            },
        )
        return response
