"""How the executor reaches a data service: one request shape, one response shape, two transports.

:class:`ServiceTransport` is the seam. In the cloud it is :class:`~functions.aws.executor.sigv4.
SigV4ApiGatewayTransport` (HTTPS to API Gateway, IAM-signed); in the local runtime and the tests it is
:class:`InProcessTransport`, which hands an API Gateway REST proxy event to the data-service handler
that serves the operation (:data:`functions.aws.manifest.OPERATION_FUNCTIONS`), exactly as API Gateway
would. Either way the executor sees a :class:`ServiceResponse` with the status and the decoded body.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from agentcage.errors import ConfigurationError, TransportError

if TYPE_CHECKING:
    from agentcage.tools import Tool

__all__ = [
    "MAX_RESPONSE_BYTES",
    "InProcessTransport",
    "LocalLambdaContext",
    "ServiceHandler",
    "ServiceRequest",
    "ServiceResponse",
    "ServiceTransport",
    "decode_body",
]

# A tool result travels back in a ToolResult (at most ~248 KiB); a larger answer cannot be delivered.
MAX_RESPONSE_BYTES: Final = 240 * 1024

ServiceHandler = Callable[[dict[str, Any], Any], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """One call of a catalog operation, in the terms both transports need.

    ``resource`` is the catalog's path template (``/customers/{customer_id}``) and ``path`` the
    concrete, percent-encoded path; ``query`` values are already strings.
    """

    operation: str
    method: str
    resource: str
    path: str
    path_parameters: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    @classmethod
    def for_tool(cls, tool: Tool, args: Mapping[str, Any], headers: Mapping[str, str]) -> ServiceRequest:
        """The request for validated ``args`` of ``tool`` (the tool's own request builder places them)."""
        method, path, query, body = tool.build_request(args)
        path_parameters = {
            name: _text(value) for name, value in args.items() if tool.locations.get(name) == "path"
        }
        return cls(
            operation=tool.name,
            method=method,
            resource=tool.path,
            path=path,
            path_parameters=path_parameters,
            query={name: _text(value) for name, value in query.items()},
            headers=dict(headers),
            body=body,
        )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class ServiceResponse:
    """What the data service answered: status, headers (lower-case names), the decoded body."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str:
        """The service's ``error.code`` when its body has one, else ``http_<status>``."""
        if isinstance(self.body, Mapping):
            error = self.body.get("error")
            if isinstance(error, Mapping) and isinstance(error.get("code"), str) and error["code"]:
                return str(error["code"])[:64]
        return f"http_{self.status}"

    @property
    def error_message(self) -> str:
        """The service's ``error.message`` when its body has one, else a generic sentence."""
        if isinstance(self.body, Mapping):
            error = self.body.get("error")
            if isinstance(error, Mapping) and isinstance(error.get("message"), str):
                return str(error["message"])[:1024]
        return f"the service answered HTTP {self.status}"


class ServiceTransport(Protocol):
    """Calls a data service; raises :class:`TransportError` when no answer came (timeout, network)."""

    def send(self, request: ServiceRequest) -> ServiceResponse:
        """Send ``request`` and return the service's answer, whatever its status."""
        ...


def decode_body(raw: bytes | str | None, content_type: str | None) -> Any:
    """A response body as JSON when it is JSON, as text otherwise; ``None`` when empty.

    Larger than :data:`MAX_RESPONSE_BYTES` raises :class:`TransportError`: it could not be delivered.
    """
    if raw is None or raw in (b"", ""):
        return None
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > MAX_RESPONSE_BYTES:
        raise TransportError(
            f"the service answered {len(data)} bytes; at most {MAX_RESPONSE_BYTES} fit in a tool result",
            details={"size": len(data), "limit": MAX_RESPONSE_BYTES},
        )
    media = (content_type or "").split(";", 1)[0].strip().lower()
    text = data.decode("utf-8", errors="replace")
    if media == "application/json" or media.endswith("+json") or not media:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return text


@dataclass
class LocalLambdaContext:
    """The Lambda context a data-service handler reads (Powertools' logger and idempotency use it)."""

    function_name: str
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    timeout_ms: int = 10_000
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left of the function's timeout."""
        return max(0, self.timeout_ms - int((time.monotonic() - self._started) * 1000))


def _manifest_handler(operation: str) -> tuple[str, ServiceHandler, int]:
    """The Lambda serving ``operation``: its name, its handler function and its timeout in ms."""
    from functions.aws.manifest import OPERATION_FUNCTIONS, lambda_spec

    name = OPERATION_FUNCTIONS.get(operation)
    if name is None:
        raise ConfigurationError(f"no Lambda serves the operation {operation!r}")
    spec = lambda_spec(name)
    module_name, _, attribute = spec.handler.rpartition(".")
    function: ServiceHandler = getattr(importlib.import_module(module_name), attribute)
    return name, function, spec.timeout_seconds * 1000


class InProcessTransport:
    """Calls the data-service handler in this process with an API Gateway REST proxy event.

    ``handlers`` maps an operationId to a handler (the tests can hand in one); by default the handler
    is found through :data:`functions.aws.manifest.OPERATION_FUNCTIONS` and imported on first use.
    ``caller_arn`` is what the event's ``requestContext.identity`` says called (IAM auth in the cloud).
    """

    def __init__(
        self,
        handlers: Mapping[str, ServiceHandler] | None = None,
        *,
        stage: str = "local",
        caller_arn: str | None = None,
    ) -> None:
        self._explicit = dict(handlers or {})
        self._resolved: dict[str, tuple[str, ServiceHandler, int]] = {}
        self._lock = threading.Lock()
        self.stage = stage
        self.caller_arn = caller_arn

    def _handler(self, operation: str) -> tuple[str, ServiceHandler, int]:
        explicit = self._explicit.get(operation)
        if explicit is not None:
            return operation, explicit, 10_000
        with self._lock:
            if operation not in self._resolved:
                self._resolved[operation] = _manifest_handler(operation)
            return self._resolved[operation]

    def send(self, request: ServiceRequest) -> ServiceResponse:
        """Resolve the request in-process; a handler that raises is the service's 500, as in Lambda."""
        from functions.aws.services.proxy_events import build_proxy_event

        name, handler, timeout_ms = self._handler(request.operation)
        event = build_proxy_event(
            request.method,
            request.resource,
            path_parameters=request.path_parameters,
            query=request.query,
            headers=request.headers,
            body=request.body,
            stage=self.stage,
            caller_arn=self.caller_arn,
        )
        context = LocalLambdaContext(function_name=name, timeout_ms=timeout_ms)
        started = time.perf_counter()
        try:
            response = handler(event, context)
        except Exception as error:  # noqa: BLE001 - an unhandled error in a Lambda is API Gateway's 502
            return ServiceResponse(
                status=502,
                body={
                    "error": {"code": "service_crashed", "message": f"{name} raised {type(error).__name__}"}
                },
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        latency = (time.perf_counter() - started) * 1000
        headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
        for key, values in (response.get("multiValueHeaders") or {}).items():
            headers.setdefault(str(key).lower(), ", ".join(str(v) for v in values))
        raw = response.get("body")
        if response.get("isBase64Encoded") and isinstance(raw, str):
            import base64

            raw = base64.b64decode(raw)
        status = response.get("statusCode")
        return ServiceResponse(
            status=status if isinstance(status, int) else 502,
            body=decode_body(raw, headers.get("content-type")),
            headers=headers,
            latency_ms=latency,
        )
