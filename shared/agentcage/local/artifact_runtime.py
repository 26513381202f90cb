"""The platform inside an artifact worker: what Lambda's runtime client or the Functions Python worker is.

``python -I -S artifact_runtime.py '<json list of paths>'`` puts only the unzipped artifact on
``sys.path`` (its root, and for the Function App ``.python_packages/lib/site-packages``, as the
Functions worker does), then answers framed JSON requests on stdin with framed JSON replies on the
process's original stdout. Whatever the functions print (Powertools writes its JSON logs to stdout)
goes to stderr instead, so it cannot corrupt the protocol.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. Requests:

- ``{"op": "load", "modules": [...]}``: import the entry points' modules (a warm start);
- ``{"op": "describe_app", "module": "function_app"}``: index the Function App as the host does and
  return every function's name, parameters and bindings;
- ``{"op": "invoke_lambda", "handler": "pkg.module.function", "event": {...}, "context": {...}}``;
- ``{"op": "invoke_azure", "function": name, "trigger": {...}, "outputs": [...]}``.

Each reply is ``{"ok": true, ...}`` or ``{"ok": false, "error": {"type", "message", "traceback"}}``.

Nothing here is shipped: this file stands where the cloud's own runtime stands, and it is imported by
the local host only for the framing functions (it imports nothing outside the standard library at
import time). The functions build their clients from their settings, as in the cloud; the one seam
this runtime injects, through the injection points the functions offer to the in-process runtime
too, is the Service Bus sender (the SDK speaks AMQP, which no loopback endpoint here serves): a
sender speaking Service Bus's HTTP send API (``POST /<queue>/messages``, ``BrokerProperties``) to
the endpoint named by :data:`SERVICEBUS_ENDPOINT_ENV`.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import importlib
import json
import os
import struct
import sys
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import IO, Any

__all__ = [
    "MAX_FRAME_BYTES",
    "SERVICEBUS_ENDPOINT_ENV",
    "FrameError",
    "decode_payload",
    "encode_frame",
    "main",
    "read_frame",
    "write_frame",
]

MAX_FRAME_BYTES = 64 * 1024 * 1024
"""No request or reply is larger (a Lambda payload is at most 6 MB; this leaves room)."""

SERVICEBUS_ENDPOINT_ENV = "AGENTCAGE_LOCAL_SERVICEBUS_ENDPOINT"
"""The loopback Service Bus HTTP endpoint the worker's sender posts to (a local-only setting)."""

_HEADER = struct.Struct(">I")


class FrameError(ValueError):
    """A frame that is not a length-prefixed JSON object (the other side is broken or gone mid-frame)."""


def encode_frame(message: Mapping[str, Any]) -> bytes:
    """The frame carrying ``message`` (values JSON cannot hold are sent as their ``str``)."""
    payload = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
    if len(payload) > MAX_FRAME_BYTES:
        raise FrameError(f"a frame of {len(payload)} bytes is larger than {MAX_FRAME_BYTES}")
    return _HEADER.pack(len(payload)) + payload


def write_frame(stream: IO[bytes], message: Mapping[str, Any]) -> None:
    """Write one frame and flush it."""
    stream.write(encode_frame(message))
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def decode_payload(payload: bytes) -> dict[str, Any]:
    """The JSON object a frame's payload holds."""
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FrameError(f"a frame is not UTF-8 JSON: {error}") from None
    if not isinstance(message, dict):
        raise FrameError(f"a frame holds {type(message).__name__}, not a JSON object")
    return message


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next frame's object; None at a clean end of stream, :class:`FrameError` for a torn frame."""
    header = _read_exactly(stream, _HEADER.size)
    if not header:
        return None
    if len(header) < _HEADER.size:
        raise FrameError("the stream ended inside a frame header")
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise FrameError(f"a frame announces {size} bytes; at most {MAX_FRAME_BYTES} are accepted")
    payload = _read_exactly(stream, size)
    if len(payload) < size:
        raise FrameError(f"the stream ended {size - len(payload)} bytes short of a frame")
    return decode_payload(payload)


# --- what the worker runs (artifact code is imported only below, after sys.path is the artifact's) ---


class RestServiceBusSender:
    """A ``ServiceBusSender`` speaking Service Bus's HTTP send API to ``endpoint`` (custom properties as
    headers, ``MessageId`` in ``BrokerProperties``), for the loopback endpoint of the local host."""

    def __init__(self, endpoint: str, timeout_s: float = 60.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout_s = timeout_s

    def send(self, queue: str, body: str, application_properties: Mapping[str, Any], message_id: str) -> None:
        """POST one message; raises the library's TransportError when it was not accepted."""
        from agentcage.errors import TransportError

        headers = {
            "Content-Type": "application/json",
            "BrokerProperties": json.dumps({"MessageId": message_id}),
            **{str(name): json.dumps(value) for name, value in application_properties.items()},
        }
        # http.client keeps the properties' names as they are (urllib would capitalise them).
        target = urllib.parse.urlsplit(f"{self.endpoint}/{urllib.parse.quote(queue)}/messages")
        connection = http.client.HTTPConnection(target.netloc, timeout=self.timeout_s)
        try:
            connection.request("POST", target.path, body=body.encode("utf-8"), headers=headers)
            response = connection.getresponse()
            detail = response.read().decode("utf-8", "replace")[:500]
        except OSError as error:
            raise TransportError(f"could not send to Service Bus queue {queue}: {error}") from error
        finally:
            connection.close()
        if response.status >= 300:
            raise TransportError(f"Service Bus refused a message for {queue}: {response.status} {detail}")


def _servicebus_sender() -> RestServiceBusSender:
    endpoint = os.environ.get(SERVICEBUS_ENDPOINT_ENV)
    if not endpoint:
        from agentcage.errors import ConfigurationError

        raise ConfigurationError(f"{SERVICEBUS_ENDPOINT_ENV} is not set")
    return RestServiceBusSender(endpoint)


class LambdaContext:
    """The context object Lambda passes (the fields Powertools reads), from the host's description."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.function_name = str(fields.get("function_name", "local"))
        self.function_version = str(fields.get("function_version", "$LATEST"))
        self.memory_limit_in_mb = int(fields.get("memory_limit_in_mb", 256))
        self.aws_request_id = str(fields.get("aws_request_id") or uuid.uuid4())
        self.invoked_function_arn = str(fields.get("invoked_function_arn", ""))
        self.log_group_name = str(fields.get("log_group_name", f"/aws/lambda/{self.function_name}"))
        self.log_stream_name = str(fields.get("log_stream_name", "local"))
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + int(fields.get("timeout_ms", 30_000)) / 1000

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _bridge_to_azure(module: Any, event: dict[str, Any], context: LambdaContext) -> Any:
    from agentcage.federation import ServiceBusResultSender

    return module.process_batch(event, context, sender=ServiceBusResultSender(_servicebus_sender()))


# The Lambdas whose cloud client has no endpoint setting, and the injection point each offers.
_LAMBDA_SEAMS: dict[str, Callable[[Any, dict[str, Any], LambdaContext], Any]] = {
    "functions.aws.bridge_to_azure": _bridge_to_azure,
}


def _binding(raw: Any) -> dict[str, Any]:
    return {key: getattr(value, "value", value) for key, value in raw.get_dict_repr().items()}


class WorkerRuntime:
    """Answers the host's requests with the artifact's own code."""

    def __init__(self) -> None:
        self._app_functions: dict[str, Any] | None = None
        self._coordinator_installed = False

    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One reply for one request; an exception of the function is a structured error reply."""
        handlers: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "load": self._load,
            "describe_app": self._describe_app,
            "invoke_lambda": self._invoke_lambda,
            "invoke_azure": self._invoke_azure,
        }
        handler = handlers.get(str(request.get("op")))
        if handler is None:
            return _failure(ValueError(f"unknown op {request.get('op')!r}"))
        try:
            return {"ok": True, **handler(request)}
        except Exception as error:  # noqa: BLE001 - reported to the host, which fails the delivery
            return _failure(error)

    def _load(self, request: Mapping[str, Any]) -> dict[str, Any]:
        for name in request.get("modules") or ():
            importlib.import_module(str(name))
        return {"loaded": list(request.get("modules") or ())}

    def _functions(self, module_name: str = "function_app") -> dict[str, Any]:
        if self._app_functions is None:
            app = importlib.import_module(module_name).app
            self._app_functions = {f.get_function_name(): f for f in app.get_functions()}
        return self._app_functions

    def _describe_app(self, request: Mapping[str, Any]) -> dict[str, Any]:
        import inspect

        described = []
        for name, function in self._functions(str(request.get("module") or "function_app")).items():
            described.append(
                {
                    "name": name,
                    "parameters": list(inspect.signature(function.get_user_function()).parameters),
                    "bindings": [_binding(b) for b in function.get_bindings()],
                }
            )
        return {"functions": described}

    def _invoke_lambda(self, request: Mapping[str, Any]) -> dict[str, Any]:
        module_name, _, attribute = str(request["handler"]).rpartition(".")
        module = importlib.import_module(module_name)
        context = LambdaContext(request.get("context") or {})
        event = request.get("event") or {}
        seam = _LAMBDA_SEAMS.get(module_name)
        value = seam(module, event, context) if seam else getattr(module, attribute)(event, context)
        return {"value": value}

    def _install_coordinator(self) -> None:
        """The coordinator's own runtime from the app settings, with the Service Bus sender swapped."""
        if self._coordinator_installed:
            return
        runtime = importlib.import_module("runtime")
        built = runtime.build_runtime()
        runtime.set_runtime(dataclasses.replace(built, sender=_servicebus_sender()))
        self._coordinator_installed = True

    def _invoke_azure(self, request: Mapping[str, Any]) -> dict[str, Any]:
        import azure.functions as func

        function = self._functions()[str(request["function"])]
        self._install_coordinator()
        user_function = function.get_user_function()
        bindings = [_binding(b) for b in function.get_bindings()]
        trigger = next(b for b in bindings if str(b["type"]).endswith("Trigger"))
        outputs = {str(name): _Out() for name in request.get("outputs") or ()}
        arguments: dict[str, Any] = {trigger["name"]: _trigger_value(request["trigger"]), **outputs}
        import inspect

        if "context" in inspect.signature(user_function).parameters:
            arguments["context"] = _context(func, str(request["function"]))
        returned = user_function(**arguments)
        return {
            "returned": _returned(func, returned),
            "outputs": {name: _output_value(func, out.value) for name, out in outputs.items()},
        }


class _Out:
    """The ``func.Out`` of an output binding (duck-typed: ``set``/``get``)."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


def _context(func: Any, name: str) -> Any:
    class _Context(func.Context):  # type: ignore[misc]
        invocation_id = str(uuid.uuid4())
        function_name = name
        function_directory = ""
        trace_context = None
        retry_context = None
        thread_local_storage = None

    return _Context()


def _when(text: str | None) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text) if text else None


def _trigger_value(trigger: Mapping[str, Any]) -> Any:
    """The SDK object the Functions host passes for ``trigger`` (as the host describes it)."""
    kind = trigger.get("kind")
    if kind == "servicebus":
        from azure.functions.servicebus import ServiceBusMessage

        return ServiceBusMessage(
            body=str(trigger["body"]).encode("utf-8"),
            message_id=str(trigger.get("message_id") or ""),
            application_properties=dict(trigger.get("application_properties") or {}),
            user_properties=dict(trigger.get("application_properties") or {}),
            content_type=trigger.get("content_type"),
            delivery_count=trigger.get("delivery_count"),
            enqueued_time_utc=_when(trigger.get("enqueued_time_utc")),
            enqueued_sequence_number=trigger.get("sequence_number"),
            sequence_number=trigger.get("sequence_number"),
            lock_token=trigger.get("lock_token"),
            locked_until=_when(trigger.get("locked_until")),
            to=trigger.get("to"),
        )
    if kind == "http":
        import azure.functions as func

        return func.HttpRequest(
            method=str(trigger["method"]),
            url=str(trigger["url"]),
            headers=dict(trigger.get("headers") or {}),
            params=dict(trigger.get("params") or {}),
            route_params=dict(trigger.get("route_params") or {}),
            body=base64.b64decode(trigger.get("body") or ""),
        )
    if kind == "timer":
        from azure.functions.timer import TimerRequest

        return TimerRequest(past_due=bool(trigger.get("past_due")))
    raise ValueError(f"unknown trigger kind {kind!r}")


def _returned(func: Any, value: Any) -> Any:
    if isinstance(value, func.HttpResponse):
        return {
            "kind": "http",
            "status": value.status_code,
            "headers": dict(value.headers.items()),
            "mimetype": value.mimetype,
            "charset": value.charset,
            "body": base64.b64encode(value.get_body() or b"").decode("ascii"),
        }
    return {"kind": "value", "value": value}


def _output_value(func: Any, value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_output_value(func, item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, func.ServiceBusMessage):
        properties = dict(getattr(value, "application_properties", None) or {})
        return {"servicebus_message": value.get_body().decode("utf-8"), "properties": properties}
    return value


def _failure(error: BaseException) -> dict[str, Any]:
    return {
        "ok": False,
        "error": {
            "type": type(error).__name__,
            "message": str(error),
            "traceback": "".join(traceback.format_exception(error))[-8000:],
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Serve the host's requests until it closes stdin."""
    arguments = sys.argv[1:] if argv is None else argv
    paths = [str(p) for p in json.loads(arguments[0])] if arguments else []
    # The protocol keeps the real stdout; everything the functions print goes to stderr.
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    protocol_in = sys.stdin.buffer
    sys.path[0:0] = paths
    runtime = WorkerRuntime()
    write_frame(protocol_out, {"ok": True, "op": "ready", "pid": os.getpid(), "sys_path": sys.path})
    while True:
        try:
            request = read_frame(protocol_in)
        except FrameError as error:
            print(f"artifact worker: {error}", file=sys.stderr)
            return 2
        if request is None:
            return 0
        write_frame(protocol_out, runtime.handle(request))


if __name__ == "__main__":
    sys.exit(main())
