"""ASGI in front of synchronous request handlers, for the local runtime's uvicorn server.

The functions are synchronous (``func.HttpRequest`` in, ``func.HttpResponse`` out) and block on the
ledger and the queues, so the event loop only does HTTP: :class:`SyncHandlerApp` reads a request's
body (bounded: a body over the limit is answered 413 without being read), runs the handler on a
bounded pool of threads, and writes its answer. More requests than the pool runs wait in the loop, up
to ``max_waiting``; past that a request is answered 503 with ``Retry-After`` instead of piling up.

Every error the adapter itself gives (413, 503, a handler that raised) is the project's body
``{"error": {"code", "message", "trace_id"}}`` with the caller's trace id (from ``traceparent``), or a
new one that the log line carries too.

:class:`PathMounts` sends a request to the app mounted on its path prefix (a console, an MCP
gateway), else to the default app; a mounted app sees the ASGI ``root_path`` set to its prefix.

:class:`HostGuard` answers a request addressed to any other ``Host`` than the server's own names
(:class:`AllowedHosts`) with 421 before any app sees it: the defence against DNS rebinding for a
server that acts for whoever reaches it (the development principals on loopback). A page on
``evil.example`` whose name is re-pointed at 127.0.0.1 reaches the port from the victim's browser as
a same-origin request, with ``Host: evil.example:<port>``; only the ``Host`` header tells it apart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from agentcage.approvals.principal import LOOPBACK_HOST_NAMES
from agentcage.errors import ConfigurationError
from agentcage.trace import extract_http, new_trace_id

__all__ = [
    "LOOPBACK_HOST_NAMES",
    "AllowedHosts",
    "Answer",
    "AsgiApp",
    "HostGuard",
    "IncomingRequest",
    "PathMounts",
    "SyncHandlerApp",
    "allowed_host",
    "error_answer",
    "trace_id_for",
]

_log = logging.getLogger("agentcage.local.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Answer = tuple[int, dict[str, str], bytes]
"""A status, headers and body."""

# Headers the server writes itself from the body it sends.
_HOP_BY_HOP = frozenset({"content-length", "connection", "transfer-encoding", "keep-alive"})


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """One HTTP request as the handlers see it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Names in lower case; a repeated header's values joined with ``", "``."""
    body: bytes
    base_url: str
    """``scheme://host:port`` the request arrived on."""

    @property
    def raw_path(self) -> str:
        """The path with its query string."""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def params(self) -> dict[str, str]:
        """The query parameters (the last value of a repeated one)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))


def trace_id_for(headers: Mapping[str, str]) -> str:
    """The caller's trace id from ``traceparent``, else a new one (an error body always names one)."""
    caller = extract_http(headers)
    return caller.trace_id if caller is not None else new_trace_id()


def error_answer(
    status: int,
    code: str,
    message: str,
    trace_id: str,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """The project's error body with ``status``."""
    body = json.dumps({"error": {"code": code, "message": message, "trace_id": trace_id}}).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, body


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """The ``Host`` header values a server answers, as ``name:port`` in lower case."""

    values: frozenset[str]

    @classmethod
    def loopback(cls, port: int, *urls: str, extra_hosts: Iterable[str] = ()) -> AllowedHosts:
        """The loopback names with ``port``, plus the host and port of each of ``urls`` (the server's
        own URL, a configured public URL), plus each of ``extra_hosts`` exactly as given (``name:port``
        values a user named for a port forward: :func:`allowed_host`)."""
        values = {f"{name}:{port}" for name in LOOPBACK_HOST_NAMES}
        for url in urls:
            parts = urlsplit(url)
            if parts.hostname:
                name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
                values.add(f"{name}:{parts.port or (443 if parts.scheme == 'https' else 80)}")
        # A Host without a port means the scheme's default (RFC 9110 7.2).
        values.update(v.rsplit(":", 1)[0] for v in list(values) if v.endswith((":80", ":443")))
        # Exact values only: a forward's Host always carries the port it was given.
        values.update(allowed_host(value) for value in extra_hosts)
        return cls(frozenset(v.lower() for v in values))

    def allows(self, host: str | None) -> bool:
        """Whether a request with this ``Host`` header was addressed to this server."""
        return (host or "").strip().lower() in self.values

    def refusal(self, headers: Mapping[str, str]) -> Answer | None:
        """The 421 for a request (header names in lower case) addressed elsewhere, else ``None``."""
        host = headers.get("host")
        if self.allows(host):
            return None
        trace_id = trace_id_for(headers)
        _log.warning("refused a request for Host %r (trace %s)", (host or "")[:100], trace_id)
        message = (
            f"this server answers only requests addressed to {', '.join(sorted(self.values))}, not "
            f"{(host or 'a request without a Host header')[:100]!r} (a defence against DNS rebinding)"
        )
        return error_answer(421, "misdirected_request", message, trace_id)


_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def allowed_host(value: str) -> str:
    """``value`` as one exact ``Host`` header value (``name:port``, lower case), or a ConfigurationError.

    For a port forward to a loopback server (``ssh -L 8080:127.0.0.1:7071``, ``docker -p``, a
    devcontainer), whose browser sends ``Host: localhost:8080``. The name must be a DNS name, an IPv4
    address or a bracketed IPv6 address, and the port explicit: never a wildcard, a pattern or a bare
    name, so each value admits exactly one ``Host`` and a rebinding page's name is never among them.
    """
    text = value.strip().lower()
    refused = ConfigurationError(
        f"an allowed host is one exact name:port (e.g. localhost:8080), not {value[:100]!r}",
        details={"allowed_host": value[:100]},
    )
    name, colon, port = text.rpartition(":")
    if not colon or not port.isascii() or not port.isdigit() or not 0 < int(port) <= 65535:
        raise refused
    if name.startswith("[") and name.endswith("]"):
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            raise refused from None
    elif not name or len(name) > 253 or not all(_DNS_LABEL.match(label) for label in name.split(".")):
        raise refused  # also every '*', '_', '/', '@' or empty label
    return f"{name}:{int(port)}"


class HostGuard:
    """Answers 421 to every request whose ``Host`` ``allowed`` refuses, before ``app`` sees it."""

    def __init__(self, app: AsgiApp, allowed: AllowedHosts) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http":
            refused = self.allowed.refusal(_headers(scope))
            if refused is not None:
                # The body is not read: the connection closes after this answer.
                status, headers, body = refused
                await send_answer(send, (status, {**headers, "Connection": "close"}, body))
                return
        await self.app(scope, receive, send)


class SyncHandlerApp:
    """Runs ``handler`` for every HTTP request on ``threads`` threads, with bounded bodies and queue."""

    def __init__(
        self,
        handler: Callable[[IncomingRequest], Answer],
        *,
        max_body_bytes: int,
        threads: int = 8,
        max_waiting: int = 1024,
    ) -> None:
        if threads < 1 or max_waiting < 1 or max_body_bytes < 0:
            raise ValueError("threads and max_waiting must be at least 1, max_body_bytes not negative")
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.max_waiting = max_waiting
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="local-http")
        self._in_flight = 0  # only the event loop's thread touches it

    @property
    def in_flight(self) -> int:
        """Requests read and not yet answered (running or waiting for a thread)."""
        return self._in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no websockets (uvicorn runs with ws="none") nor lifespan here
            return
        headers = _headers(scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send, headers)
            return
        try:
            body = await _read_body(receive, self.max_body_bytes)
        except _Disconnected:
            return  # the caller went away before it finished sending: nobody to answer
        if body is None:
            await self._too_large(send, headers)
            return
        if self._in_flight >= self.max_waiting:
            trace_id = trace_id_for(headers)
            _log.warning("refused a request: %d are in flight (trace %s)", self._in_flight, trace_id)
            await send_answer(
                send,
                error_answer(
                    503,
                    "overloaded",
                    "too many requests are waiting; retry shortly",
                    trace_id,
                    {"Retry-After": "1"},
                ),
            )
            return
        request = IncomingRequest(
            method=str(scope["method"]).upper(),
            path=str(scope["path"]),
            query=bytes(scope.get("query_string") or b"").decode("latin-1"),
            headers=headers,
            body=body,
            base_url=_base_url(scope),
        )
        self._in_flight += 1
        try:
            answer = await asyncio.get_running_loop().run_in_executor(self._pool, self._run, request)
        finally:
            self._in_flight -= 1
        await send_answer(send, answer, head=request.method == "HEAD")

    def _run(self, request: IncomingRequest) -> Answer:
        try:
            return self.handler(request)
        except Exception:  # noqa: BLE001 - a bug in a handler: answered and logged, the server lives on
            trace_id = trace_id_for(request.headers)
            _log.exception("answering %s %s failed (trace %s)", request.method, request.path, trace_id)
            return error_answer(500, "internal_error", "internal error; the trace id finds the log", trace_id)

    async def _too_large(self, send: Send, headers: Mapping[str, str]) -> None:
        message = f"the request body is larger than {self.max_body_bytes} bytes"
        # The unread body is not drained: the server closes the connection after this answer.
        await send_answer(
            send, error_answer(413, "too_large", message, trace_id_for(headers), {"Connection": "close"})
        )

    def close(self) -> None:
        """Stop the threads; a handler still running finishes, a waiting one is cancelled."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class PathMounts:
    """Sends a request to the app mounted on its path prefix, else to ``default``."""

    def __init__(self, default: AsgiApp) -> None:
        self.default = default
        self._mounts: list[tuple[str, AsgiApp]] = []

    def mount(self, prefix: str, app: AsgiApp) -> None:
        """Serve ``prefix`` and everything under it with ``app`` (the longest prefix wins)."""
        if not prefix.startswith("/") or prefix.endswith("/") or len(prefix) < 2:
            raise ValueError(f"a mount prefix is like '/console', not {prefix!r}")
        if any(existing == prefix for existing, _ in self._mounts):
            raise ValueError(f"{prefix} is mounted already")
        self._mounts.append((prefix, app))
        self._mounts.sort(key=lambda mount: len(mount[0]), reverse=True)

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The mounted prefixes."""
        return tuple(prefix for prefix, _ in self._mounts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path") or "")
        for prefix, app in self._mounts:
            if path == prefix or path.startswith(prefix + "/"):
                await app({**scope, "root_path": str(scope.get("root_path") or "") + prefix}, receive, send)
                return
        await self.default(scope, receive, send)


async def send_answer(send: Send, answer: Answer, *, head: bool = False) -> None:
    """Write ``answer`` (no body for ``HEAD``; its length in ``Content-Length`` either way)."""
    status, headers, body = answer
    raw = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in headers.items()
        if k.lower() not in _HOP_BY_HOP
    ]
    raw.append((b"content-length", str(len(body)).encode()))
    if headers.get("Connection", "").lower() == "close":
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


class _Disconnected(Exception):  # noqa: N818 - a signal inside this module, not an error
    """The client disconnected while sending its body."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it passes ``limit`` (the rest is left unread)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = bytes(message.get("body") or b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _base_url(scope: Scope) -> str:
    scheme = str(scope.get("scheme") or "http")
    server = scope.get("server")
    if not server:
        return f"{scheme}://localhost"
    host, port = server[0], server[1]
    host = f"[{host}]" if ":" in str(host) else str(host)
    return f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"
