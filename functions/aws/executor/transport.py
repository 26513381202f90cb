"""The executor's local transport: the data-service handler called in this process, as API Gateway would.

:class:`InProcessTransport` hands an API Gateway REST proxy event to the data-service handler that
serves the operation (:data:`functions.aws.manifest.OPERATION_FUNCTIONS`); the local runtime and the
tests use it. The request and response shapes and the cloud transport live in the library
(:mod:`agentcage.transport`), because the coordinator's target reader sends the same requests; they
are re-exported here for the executor's callers.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentcage.errors import ConfigurationError
from agentcage.transport import (
    EXECUTE_API,
    MAX_RESPONSE_BYTES,
    ServiceRequest,
    ServiceResponse,
    ServiceTransport,
    SigV4ApiGatewayTransport,
    decode_body,
    region_from_url,
)

__all__ = [
    "EXECUTE_API",
    "MAX_RESPONSE_BYTES",
    "SigV4ApiGatewayTransport",
    "region_from_url",
    "InProcessTransport",
    "LocalLambdaContext",
    "ServiceHandler",
    "ServiceRequest",
    "ServiceResponse",
    "ServiceTransport",
    "decode_body",
]

ServiceHandler = Callable[[dict[str, Any], Any], Mapping[str, Any]]


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
