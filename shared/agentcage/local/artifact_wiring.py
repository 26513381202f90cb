"""The system's wiring when the functions run in artifact workers: the same records, other callables.

The Function App describes itself from inside its worker (``describe_app``: every function's
bindings, as the Functions host indexes them) and :mod:`agentcage.local.discovery` reads that
description exactly as it reads an app imported in-process; each function's callable is a proxy that
sends its trigger (the Service Bus message, HTTP request or timer the host built) to the worker and
sets what the function returned and put in its output bindings. The Lambdas come from the manifest,
as infra reads it, each bound to the worker of the artifact whose entry points list its handler.
So the consumers, the timers and the HTTP server run unchanged over either kind of record.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from agentcage.errors import ConfigurationError
from agentcage.local.artifact_workers import WorkerPool
from agentcage.local.cloud_endpoints import ApiRequest, HttpAnswer
from agentcage.local.discovery import (
    AzureFunction,
    LambdaFunction,
    SystemWiring,
    _azure_function,
    _route_prefix,
    check_wiring,
)
from agentcage.local.invoke import LOCAL_ACCOUNT, LOCAL_REGION

__all__ = [
    "AZURE_TIMEOUT_S",
    "ApiRoutes",
    "azure_functions_of",
    "describe_trigger",
    "lambda_context_fields",
    "lambda_timeout_s",
    "lambdas_of",
]

AZURE_TIMEOUT_S = 600.0
"""How long the host waits for one Azure invocation in a worker (a model step with a real model)."""


def lambda_timeout_s(spec_timeout_s: int) -> float:
    """How long the host waits for a Lambda invocation: its timeout, with room for a loaded machine."""
    return spec_timeout_s * 4 + 60.0


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def describe_trigger(value: Any) -> dict[str, Any]:
    """The JSON form of a trigger argument the host built (rebuilt as the same SDK type in the worker)."""
    if isinstance(value, func.HttpRequest):
        return {
            "kind": "http",
            "method": value.method,
            "url": value.url,
            "headers": dict(value.headers.items()),
            "params": dict(value.params),
            "route_params": dict(value.route_params),
            "body": base64.b64encode(value.get_body() or b"").decode("ascii"),
        }
    if isinstance(value, TimerRequest):
        return {"kind": "timer", "past_due": value.past_due}
    if isinstance(value, func.ServiceBusMessage):
        return {
            "kind": "servicebus",
            "body": value.get_body().decode("utf-8"),
            "message_id": value.message_id,
            "application_properties": dict(value.application_properties or {}),
            "content_type": value.content_type,
            "delivery_count": value.delivery_count,
            "enqueued_time_utc": _when(value.enqueued_time_utc),
            "sequence_number": value.sequence_number,
            "lock_token": value.lock_token,
            "locked_until": _when(value.locked_until),
            "to": value.to,
        }
    raise ConfigurationError(f"cannot hand a {type(value).__name__} trigger to an artifact worker")


def _returned(described: Mapping[str, Any]) -> Any:
    if described.get("kind") == "http":
        return func.HttpResponse(
            body=base64.b64decode(described.get("body") or ""),
            status_code=int(described.get("status") or 500),
            headers=dict(described.get("headers") or {}),
            mimetype=described.get("mimetype"),
            charset=described.get("charset") or "utf-8",
        )
    return described.get("value")


def _output(value: Any) -> Any:
    if isinstance(value, list):
        return [_output(item) for item in value]
    if isinstance(value, dict) and "servicebus_message" in value:
        properties = dict(value.get("properties") or {})
        return ServiceBusMessage(
            body=str(value["servicebus_message"]).encode("utf-8"),
            message_id="",
            application_properties=properties,
            user_properties=properties,
        )
    return value


class _AzureProxy:
    """The callable standing for one Azure function: sends its trigger to the Function App's worker."""

    def __init__(self, pool: WorkerPool, name: str, trigger_arg: str, outputs: tuple[str, ...]) -> None:
        self.pool = pool
        self.name = name
        self.trigger_arg = trigger_arg
        self.outputs = outputs

    def __call__(self, **arguments: Any) -> Any:
        request = {
            "op": "invoke_azure",
            "function": self.name,
            "trigger": describe_trigger(arguments[self.trigger_arg]),
            "outputs": [name for name in self.outputs if name in arguments],
        }
        reply = self.pool.request(request, AZURE_TIMEOUT_S)
        for name, value in (reply.get("outputs") or {}).items():
            if name in arguments and value is not None:
                arguments[name].set(_output(value))
        return _returned(reply.get("returned") or {})


class _DescribedBinding:
    def __init__(self, binding: Mapping[str, Any]) -> None:
        self._binding = dict(binding)

    def get_dict_repr(self) -> dict[str, Any]:
        return self._binding


@dataclass(frozen=True)
class _DescribedFunction:
    """What ``app.get_functions()`` yields, rebuilt from the worker's description (for discovery)."""

    name: str
    bindings: tuple[Mapping[str, Any], ...]
    proxy: Any

    def get_function_name(self) -> str:
        return self.name

    def get_user_function(self) -> Any:
        return self.proxy

    def get_bindings(self) -> list[_DescribedBinding]:
        return [_DescribedBinding(b) for b in self.bindings]


def azure_functions_of(pool: WorkerPool) -> tuple[AzureFunction, ...]:
    """The Function App's functions as its worker indexes them, each calling into that worker."""
    described = pool.request({"op": "describe_app", "module": "function_app"}, AZURE_TIMEOUT_S)
    prefix = _route_prefix(pool.layout.root)
    functions = []
    for entry in described.get("functions") or ():
        bindings = tuple(entry.get("bindings") or ())
        trigger: Mapping[str, Any] = next(
            (b for b in bindings if str(b.get("type", "")).endswith("Trigger")), {}
        )
        outputs = tuple(
            str(b["name"]) for b in bindings if b.get("direction") == 1 and b.get("type") != "http"
        )
        proxy = _AzureProxy(pool, str(entry["name"]), str(trigger.get("name", "")), outputs)
        parsed = _azure_function(_DescribedFunction(str(entry["name"]), bindings, proxy), prefix)
        # The signature is the real function's (the proxy takes **arguments).
        functions.append(_with_parameters(parsed, tuple(entry.get("parameters") or ())))
    return tuple(functions)


def _with_parameters(function: AzureFunction, parameters: tuple[str, ...]) -> AzureFunction:
    import dataclasses

    return dataclasses.replace(function, parameters=parameters)


def lambda_context_fields(context: Any) -> dict[str, Any]:
    """What the worker needs to rebuild the Lambda context the host made."""
    return {
        "function_name": context.function_name,
        "timeout_ms": context.get_remaining_time_in_millis(),
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": getattr(context, "log_group_name", ""),
        "log_stream_name": getattr(context, "log_stream_name", ""),
    }


class _LambdaProxy:
    """The handler standing for one Lambda: sends the event to its artifact's worker."""

    def __init__(self, pool: WorkerPool, handler: str, timeout_seconds: int) -> None:
        self.pool = pool
        self.handler = handler
        self.timeout_seconds = timeout_seconds

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        request = {
            "op": "invoke_lambda",
            "handler": self.handler,
            "event": event,
            "context": lambda_context_fields(context),
        }
        return self.pool.request(request, lambda_timeout_s(self.timeout_seconds)).get("value")


def lambdas_of(manifest: Any, pools: Mapping[str, WorkerPool]) -> tuple[LambdaFunction, ...]:
    """The manifest's Lambdas, each bound to the pool of the artifact that ships its handler."""
    by_handler = {handler: pool for pool in pools.values() for handler in pool.layout.lambda_handlers}
    lambdas = []
    for spec in manifest.LAMBDAS:
        pool = by_handler.get(spec.handler)
        if pool is None:
            raise ConfigurationError(f"no artifact lists the handler {spec.handler} of Lambda {spec.name}")
        lambdas.append(
            LambdaFunction(
                name=spec.name,
                handler=_LambdaProxy(pool, spec.handler, spec.timeout_seconds),
                module=spec.handler.rpartition(".")[0],
                trigger=spec.trigger,
                queue=spec.queue,
                batch_size=spec.batch_size,
                timeout_seconds=spec.timeout_seconds,
                operations=tuple(spec.operations),
                queues=tuple(spec.queues),
            )
        )
    return tuple(lambdas)


def artifact_system(function_app: WorkerPool, manifest: Any, pools: Mapping[str, WorkerPool]) -> SystemWiring:
    """Both clouds' functions in their workers, checked as the in-process wiring is."""
    wiring = SystemWiring(azure=azure_functions_of(function_app), lambdas=lambdas_of(manifest, pools))
    check_wiring(wiring)
    return wiring


_TEMPLATE_PARAMETER = re.compile(r"\{(\w+)\}")


class ApiRoutes:
    """The REST API Gateway: a catalog operation's method and path -> its Lambda's proxy event."""

    def __init__(
        self, catalog: Mapping[str, Any], lambdas: tuple[LambdaFunction, ...], stage: str = "local"
    ) -> None:
        by_operation = {op: spec for spec in lambdas for op in spec.operations}
        self.stage = stage
        self.routes: list[tuple[str, re.Pattern[str], Any, LambdaFunction]] = []
        for tool in catalog.values():
            spec = by_operation.get(tool.name)
            if spec is None:
                continue
            regex = _TEMPLATE_PARAMETER.sub(
                lambda m: f"(?P<{m.group(1)}>[^/]+)",
                re.escape(tool.path).replace(r"\{", "{").replace(r"\}", "}"),
            )
            self.routes.append((tool.method.upper(), re.compile(f"^{regex}/?$"), tool, spec))

    def __call__(self, request: ApiRequest) -> HttpAnswer:
        """Invoke the data service serving ``request`` with the proxy event API Gateway sends."""
        method, path, headers, body, caller = (
            request.method,
            request.path,
            request.headers,
            request.body,
            request.caller,
        )
        from functions.aws.services.proxy_events import build_proxy_event  # the project's one definition

        for route_method, pattern, tool, spec in self.routes:
            found = pattern.match(path)
            if found is None or route_method != method:
                continue
            text = body.decode("utf-8") if body else None
            event = build_proxy_event(
                method,
                tool.path,
                path_parameters=found.groupdict(),
                query=request.query,
                headers={k: v for k, v in headers.items() if k.lower() != "authorization"},
                body=text,
                stage=self.stage,
                caller_arn=f"arn:aws:iam::{LOCAL_ACCOUNT}:user/{caller}" if caller else None,
            )
            context = _ApiContext(spec.name, spec.timeout_seconds)
            response = spec.handler(event, context) or {}
            headers_out = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
            raw = response.get("body") or ""
            payload = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode("utf-8")
            return int(response.get("statusCode") or 502), headers_out, payload
        return 404, {"Content-Type": "application/json"}, b'{"message":"Missing Authentication Token"}'


@dataclass
class _ApiContext:
    function_name: str
    timeout_seconds: int
    aws_request_id: str = ""
    memory_limit_in_mb: int = 256

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


def project_manifest(project_root: Path) -> Any:
    """The Lambda manifest from the project (what infra reads to create the functions and mappings)."""
    from agentcage.local.discovery import _import

    return _import(project_root, "functions.aws.manifest")
