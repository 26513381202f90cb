"""The HTTP front of the local runtime: the Function App's HTTP routes on a ThreadingHTTPServer.

Each request becomes the SDK's ``func.HttpRequest`` for the function whose route and method match,
and its ``func.HttpResponse`` is written back; messages its output bindings hold are handed to the
broker (only after the function returned, as the Functions host does). A path no function serves is
a structured 404, a known path with another method a 405; a function that raises is a structured
500 (the platform's answer, which the coordinator must never give for bad input). ``GET
/_agentcage/health`` reports readiness and the queues, for scripts and tests; it is not part of the
coordinator's API.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from agentcage.local.discovery import AzureFunction
from agentcage.local.invoke import OutgoingMessage, call_azure_function
from agentcage.trace import extract_http

__all__ = ["HEALTH_PATH", "LocalHttpServer"]

_log = logging.getLogger("agentcage.local.http")

HEALTH_PATH = "/_agentcage/health"
_MAX_BODY_BYTES = 4 * 1024 * 1024


def _error(
    status: int, code: str, message: str, trace_id: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "trace_id": trace_id}}).encode()
    return status, {"Content-Type": "application/json"}, body


class LocalHttpServer:
    """Serves ``functions`` on ``host:port`` (port 0 picks a free one); ``deliver`` sends output messages."""

    def __init__(
        self,
        functions: tuple[AzureFunction, ...],
        *,
        deliver: Callable[[list[OutgoingMessage]], None],
        health: Callable[[], dict[str, Any]],
        host: str = "127.0.0.1",
        port: int = 7071,
    ) -> None:
        self.functions = functions
        self._deliver = deliver
        self._health = health
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL it listens on."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (if it started) and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: status, headers and body."""
        parts = urlsplit(raw_path)
        path = parts.path
        if path == HEALTH_PATH and method == "GET":
            return 200, {"Content-Type": "application/json"}, json.dumps(self._health()).encode()
        trace = extract_http(headers)
        trace_id = trace.trace_id if trace else None
        allowed: list[str] = []
        for function in self.functions:
            assert function.route is not None
            parameters = function.route.match(path)
            if parameters is None:
                continue
            if method not in function.route.methods:
                allowed.extend(function.route.methods)
                continue
            request = func.HttpRequest(
                method=method,
                url=f"{self.url}{raw_path}",
                headers=headers,
                params=dict(parse_qsl(parts.query, keep_blank_values=True)),
                route_params=parameters,
                body=body,
            )
            return self._invoke(function, request, trace_id)
        if allowed:
            status, response_headers, payload = _error(
                405, "method_not_allowed", f"{method} is not allowed on {path}", trace_id
            )
            return status, {**response_headers, "Allow": ", ".join(sorted(set(allowed)))}, payload
        return _error(404, "not_found", f"no function serves {path}", trace_id)

    def _invoke(
        self, function: AzureFunction, request: func.HttpRequest, trace_id: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            response, outgoing = call_azure_function(function, request)
        except Exception:  # noqa: BLE001 - the Functions host answers 500 for an unhandled error
            _log.exception("HTTP function %s raised", function.name)
            return _error(500, "internal_error", f"function {function.name} failed", trace_id)
        if outgoing:
            self._deliver(outgoing)
        if not isinstance(response, func.HttpResponse):
            _log.error(
                "HTTP function %s returned %s, not an HttpResponse", function.name, type(response).__name__
            )
            return _error(500, "internal_error", f"function {function.name} returned no response", trace_id)
        response_headers = dict(response.headers.items())
        if response.mimetype and not any(k.lower() == "content-type" for k in response_headers):
            response_headers["Content-Type"] = f"{response.mimetype}; charset={response.charset}"
        return response.status_code, response_headers, response.get_body() or b""

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY_BYTES:
                    status, headers, payload = _error(413, "too_large", "the request body is too large")
                    self.close_connection = True
                else:
                    body = self.rfile.read(length) if length > 0 else b""
                    headers_in = dict(self.headers.items())
                    status, headers, payload = server.handle(self.command, self.path, headers_in, body)
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815 - the stdlib's names

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                _log.debug("%s %s", self.address_string(), format % args)

        return Handler
