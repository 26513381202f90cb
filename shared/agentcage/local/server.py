"""The HTTP front of the local runtime: the Function App's HTTP routes served by uvicorn.

uvicorn (h11, asyncio) runs on a thread this object starts and stops, over a socket bound when it is
made (so the URL is known before the functions get their settings; port 0 picks a free one) with a
backlog of :data:`LISTEN_BACKLOG`. Each request goes through :class:`~agentcage.local.asgi.SyncHandlerApp`
to :meth:`LocalHttpServer.handle` on a bounded pool of threads: it becomes the SDK's
``func.HttpRequest`` for the function whose route and method match (the same function the in-process
and artifact modes call), and its ``func.HttpResponse`` is written back; messages its output bindings
hold are handed to ``deliver`` only after the function returned, as the Functions host does.

A path no function serves is a structured 404, a known path with another method a 405; a function
that raises is a structured 500 (the platform's answer, which the coordinator must never give for bad
input). Every error body carries the caller's trace id. Under ``/_agentcage/`` the local host serves
its own read-only routes (health, the task list, a task's timeline) for the CLI and tests; they are not
part of the coordinator's API. :meth:`LocalHttpServer.mount` puts another ASGI app (a console, an MCP
gateway) on a path prefix before the server starts.

With ``loopback_hosts_only`` (the local host sets it whenever it serves the development principals,
which act for whoever reaches the port), every request -- the functions, the local routes and every
mounted app alike -- must be addressed to ``127.0.0.1``, ``localhost`` or ``[::1]`` with the served
port (or to the server's own URL, or to one of the exact ``extra_hosts``, ``name:port`` values a user
named for a port forward: ``agentcage dev --allow-host``): any other ``Host`` is a structured 421
(:class:`~agentcage.local.asgi.HostGuard`), which stops a DNS-rebinding page from driving the API,
the console or the MCP gateway from a victim's browser.

``stop()`` is graceful: no new connections, running requests finish (up to
:data:`GRACEFUL_SHUTDOWN_S`), then the thread ends and the socket closes. Nothing is kept in memory
that a ``kill -9`` could lose: an answered request's effects are in the ledger and the queues.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func

from agentcage.errors import AgentcageError, ConfigurationError
from agentcage.local.asgi import (
    AllowedHosts,
    Answer,
    AsgiApp,
    HostGuard,
    IncomingRequest,
    PathMounts,
    SyncHandlerApp,
    error_answer,
    trace_id_for,
)
from agentcage.local.discovery import AzureFunction, HttpRoute
from agentcage.local.invoke import OutgoingMessage, call_azure_function

__all__ = [
    "GRACEFUL_SHUTDOWN_S",
    "HEALTH_PATH",
    "LISTEN_BACKLOG",
    "LOCAL_ROUTES_PREFIX",
    "LocalHttpServer",
    "LocalRoute",
    "MAX_BODY_BYTES",
]

_log = logging.getLogger("agentcage.local.http")

LOCAL_ROUTES_PREFIX = "/_agentcage"
HEALTH_PATH = f"{LOCAL_ROUTES_PREFIX}/health"
MAX_BODY_BYTES = 4 * 1024 * 1024
"""The local host's own limit; the coordinator answers 413 far below it (its own, smaller limit)."""
LISTEN_BACKLOG = 1024
"""Connections the kernel queues before they are accepted (the stdlib server's 5 reset a burst of 20)."""
GRACEFUL_SHUTDOWN_S = 10
_START_TIMEOUT_S = 30.0

LocalRoute = Callable[[dict[str, str], dict[str, str]], Any]
"""A local read-only route: (route parameters, query parameters) -> a JSON-able value."""


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
        local_routes: Mapping[str, LocalRoute] | None = None,
        threads: int = 8,
        max_body_bytes: int = MAX_BODY_BYTES,
        loopback_hosts_only: bool = False,
        extra_hosts: tuple[str, ...] = (),
    ) -> None:
        self.functions = functions
        self._deliver = deliver
        routes: dict[str, LocalRoute] = {"health": lambda _p, _q: health(), **(local_routes or {})}
        self._local_routes = [
            (HttpRoute.of(LOCAL_ROUTES_PREFIX, template, ("GET",)), route)
            for template, route in routes.items()
        ]
        self._socket = _listen(host, port)
        self._app = SyncHandlerApp(self._answer, max_body_bytes=max_body_bytes, threads=threads)
        self._mounts = PathMounts(self._app)
        self.allowed_hosts: AllowedHosts | None = (
            AllowedHosts.loopback(self._socket.getsockname()[1], self.url, extra_hosts=extra_hosts)
            if loopback_hosts_only
            else None
        )
        self._front: AsgiApp = (
            HostGuard(self._mounts, self.allowed_hosts) if self.allowed_hosts is not None else self._mounts
        )
        self._server: Any = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL it listens on."""
        host, port = self._socket.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def in_flight(self) -> int:
        """Requests being answered or waiting for a thread."""
        return self._app.in_flight

    def mount(self, prefix: str, app: AsgiApp) -> None:
        """Serve ``prefix`` (for example ``/console`` or ``/mcp``) with another ASGI app."""
        if self._thread is not None:
            raise ConfigurationError("mount apps before the server starts")
        self._mounts.mount(prefix, app)

    def start(self) -> None:
        """Serve on a background thread; returns once it accepts connections."""
        import uvicorn

        config = uvicorn.Config(
            self._front,
            lifespan="off",
            http="h11",
            loop="asyncio",
            ws="none",
            log_config=None,  # the host's logging stays as the CLI configured it
            access_log=False,
            server_header=False,
            backlog=LISTEN_BACKLOG,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self._server = _uvicorn_server(config, self._ready)
        # A loop of its own on this thread; the host's other threads never touch it.
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._server.serve([self._socket]),), name="local-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._ready.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError(f"the local HTTP server on {self.url} did not start")

    def stop(self) -> None:
        """Stop accepting, let running requests finish, end the thread and close the socket."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(GRACEFUL_SHUTDOWN_S + 5)
            if self._thread.is_alive():  # a request outlived the grace period
                self._server.force_exit = True
                self._thread.join(5)
        self._server = None
        self._thread = None
        self._app.close()
        self._socket.close()

    # --- answering --------------------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request without the network: status, headers and body."""
        path, _, query = raw_path.partition("?")
        request = IncomingRequest(
            method=method.upper(),
            path=path,
            query=query,
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            base_url=self.url,
        )
        refused = self.allowed_hosts.refusal(request.headers) if self.allowed_hosts is not None else None
        return refused if refused is not None else self._answer(request)

    def _answer(self, request: IncomingRequest) -> Answer:
        if request.path == LOCAL_ROUTES_PREFIX or request.path.startswith(LOCAL_ROUTES_PREFIX + "/"):
            return self._local(request)
        allowed: list[str] = []
        for function in self.functions:
            assert function.route is not None
            parameters = function.route.match(request.path)
            if parameters is None:
                continue
            if request.method not in function.route.methods:
                allowed.extend(function.route.methods)
                continue
            http_request = func.HttpRequest(
                method=request.method,
                url=f"{request.base_url}{request.raw_path}",
                headers=request.headers,
                params=request.params,
                route_params=parameters,
                body=request.body,
            )
            return self._invoke(function, http_request, request.headers)
        trace_id = trace_id_for(request.headers)
        if allowed:
            methods = ", ".join(sorted(set(allowed)))
            message = f"{request.method} is not allowed on {request.path}"
            return error_answer(405, "method_not_allowed", message, trace_id, {"Allow": methods})
        return error_answer(404, "not_found", f"no function serves {request.path}", trace_id)

    def _local(self, request: IncomingRequest) -> Answer:
        for route, answer in self._local_routes:
            parameters = route.match(request.path)
            if parameters is None:
                continue
            if request.method not in ("GET", "HEAD"):
                message = f"{request.method} is not allowed on {request.path}"
                return error_answer(
                    405, "method_not_allowed", message, trace_id_for(request.headers), {"Allow": "GET"}
                )
            try:
                value = answer(parameters, request.params)
            except AgentcageError as error:
                return error_answer(error.status, error.code, error.message, trace_id_for(request.headers))
            body = json.dumps(value, default=str).encode()
            return 200, {"Content-Type": "application/json"}, body
        return error_answer(404, "not_found", f"no local route {request.path}", trace_id_for(request.headers))

    def _invoke(
        self, function: AzureFunction, request: func.HttpRequest, headers: Mapping[str, str]
    ) -> Answer:
        try:
            response, outgoing = call_azure_function(function, request)
        except Exception:  # noqa: BLE001 - the Functions host answers 500 for an unhandled error
            trace_id = trace_id_for(headers)
            _log.exception("HTTP function %s raised (trace %s)", function.name, trace_id)
            return error_answer(500, "internal_error", f"function {function.name} failed", trace_id)
        if outgoing:
            self._deliver(outgoing)
        if not isinstance(response, func.HttpResponse):
            trace_id = trace_id_for(headers)
            _log.error(
                "HTTP function %s returned %s, not an HttpResponse (trace %s)",
                function.name,
                type(response).__name__,
                trace_id,
            )
            return error_answer(
                500, "internal_error", f"function {function.name} returned no response", trace_id
            )
        response_headers = dict(response.headers.items())
        if response.mimetype and not any(k.lower() == "content-type" for k in response_headers):
            response_headers["Content-Type"] = f"{response.mimetype}; charset={response.charset}"
        return response.status_code, response_headers, response.get_body() or b""


def _uvicorn_server(config: Any, ready: threading.Event) -> Any:
    """uvicorn's Server, setting ``ready`` once it accepts connections. (Off the main thread it
    installs no signal handlers, so the CLI's own SIGINT/SIGTERM handling stays in charge.)"""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                ready.set()

    return Server(config)


def _listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket (ConfigurationError naming the address when it is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
    except OSError as error:
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {error.strerror or error}; "
            "pass another --port (0 picks a free one)"
        ) from None
