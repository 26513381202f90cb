"""The ASGI adapter of the local HTTP server, driven directly (no socket): limits, errors, mounts."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from agentcage.errors import ConfigurationError
from agentcage.local.asgi import (
    AllowedHosts,
    HostGuard,
    IncomingRequest,
    PathMounts,
    SyncHandlerApp,
    allowed_host,
    error_answer,
)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


def _scope(
    method: str = "POST", path: str = "/api/tasks", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
        "scheme": "http",
        "server": ("127.0.0.1", 7071),
        "root_path": "",
    }


class Exchange:
    """One request's receive/send pair: the body in chunks, the answer collected."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.received = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        chunk = self.chunks.pop(0) if self.chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.sent[0]["headers"]}

    @property
    def body(self) -> Any:
        return json.loads(self.sent[1]["body"])


def _ok(request: IncomingRequest) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps({"size": len(request.body)}).encode()


def test_a_body_streamed_past_the_limit_is_413_with_the_callers_trace_id_and_never_handled() -> None:
    # GIVEN an app with a 10-byte limit and a handler that records being called
    called: list[IncomingRequest] = []
    app = SyncHandlerApp(lambda r: called.append(r) or _ok(r), max_body_bytes=10, threads=1)
    # WHEN a body without Content-Length arrives in chunks that pass the limit
    exchange = Exchange([b"12345", b"67890", b"1"])
    asyncio.run(app(_scope(headers={"traceparent": TRACEPARENT}), exchange.receive, exchange.send))
    app.close()
    # THEN it is answered 413 with the project's error body carrying the caller's trace id
    assert exchange.status == 413
    assert exchange.body == {
        "error": {
            "code": "too_large",
            "message": "the request body is larger than 10 bytes",
            "trace_id": TRACE_ID,
        }
    }
    assert exchange.headers["connection"] == "close"
    assert called == []


def test_a_declared_length_past_the_limit_is_answered_before_the_body_is_read() -> None:
    app = SyncHandlerApp(_ok, max_body_bytes=10, threads=1)
    exchange = Exchange([b"x" * 11])
    headers = {"content-length": "11", "traceparent": TRACEPARENT}
    asyncio.run(app(_scope(headers=headers), exchange.receive, exchange.send))
    app.close()
    assert exchange.status == 413
    assert exchange.body["error"]["trace_id"] == TRACE_ID
    assert exchange.received == 0


def test_a_body_at_the_limit_is_handled_whole() -> None:
    app = SyncHandlerApp(_ok, max_body_bytes=10, threads=1)
    exchange = Exchange([b"12345", b"67890"])
    asyncio.run(app(_scope(), exchange.receive, exchange.send))
    app.close()
    assert exchange.status == 200
    assert exchange.body == {"size": 10}
    assert exchange.headers["content-length"] == str(len(exchange.sent[1]["body"]))


def test_a_handler_that_raises_is_a_structured_500_with_the_callers_trace_id() -> None:
    def broken(_: IncomingRequest) -> tuple[int, dict[str, str], bytes]:
        raise RuntimeError("a bug")

    app = SyncHandlerApp(broken, max_body_bytes=100, threads=1)
    exchange = Exchange([b"{}"])
    asyncio.run(app(_scope(headers={"traceparent": TRACEPARENT}), exchange.receive, exchange.send))
    app.close()
    assert exchange.status == 500
    assert exchange.body["error"]["code"] == "internal_error"
    assert exchange.body["error"]["trace_id"] == TRACE_ID


def test_without_a_traceparent_an_error_still_names_a_trace_id() -> None:
    status, _, body = error_answer(404, "not_found", "nothing here", "f" * 32)
    assert status == 404
    assert json.loads(body)["error"]["trace_id"] == "f" * 32
    app = SyncHandlerApp(_ok, max_body_bytes=1, threads=1)
    exchange = Exchange([b"too big"])
    asyncio.run(app(_scope(), exchange.receive, exchange.send))
    app.close()
    trace_id = exchange.body["error"]["trace_id"]
    assert isinstance(trace_id, str)
    assert len(trace_id) == 32


def test_past_max_waiting_a_request_is_503_with_retry_after_instead_of_queued() -> None:
    # GIVEN an app that lets one request wait at most, and a handler held until released
    entered, release = threading.Event(), threading.Event()

    def held(request: IncomingRequest) -> tuple[int, dict[str, str], bytes]:
        entered.set()
        release.wait(30)
        return _ok(request)

    app = SyncHandlerApp(held, max_body_bytes=100, threads=1, max_waiting=1)

    async def scenario() -> tuple[Exchange, Exchange]:
        first, second = Exchange([b"a"]), Exchange([b"b"])
        running = asyncio.create_task(app(_scope(), first.receive, first.send))
        await asyncio.to_thread(entered.wait, 30)
        # WHEN a second request arrives while the first holds the only place
        await app(_scope(headers={"traceparent": TRACEPARENT}), second.receive, second.send)
        release.set()
        await running
        return first, second

    first, second = asyncio.run(scenario())
    app.close()
    # THEN the second is refused at once, and the first is answered when its handler returns
    assert second.status == 503
    assert second.headers["retry-after"] == "1"
    assert second.body["error"] == {
        "code": "overloaded",
        "message": "too many requests are waiting; retry shortly",
        "trace_id": TRACE_ID,
    }
    assert first.status == 200
    assert app.in_flight == 0


def test_head_answers_the_headers_without_the_body() -> None:
    app = SyncHandlerApp(_ok, max_body_bytes=100, threads=1)
    exchange = Exchange([b""])
    asyncio.run(app(_scope("HEAD", "/x"), exchange.receive, exchange.send))
    app.close()
    assert exchange.status == 200
    assert exchange.sent[1]["body"] == b""
    assert int(exchange.headers["content-length"]) > 0


@pytest.mark.parametrize(
    ("path", "served_by", "root_path"),
    [
        ("/console", "console", "/console"),
        ("/console/approvals/a-1", "console", "/console"),
        ("/mcp/janitor-agent", "mcp", "/mcp"),
        ("/consoles", "default", ""),
        ("/api/tasks", "default", ""),
    ],
)
def test_mounts_take_their_prefix_and_everything_under_it(path: str, served_by: str, root_path: str) -> None:
    seen: list[tuple[str, str]] = []

    def app_named(name: str) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            seen.append((name, scope["root_path"]))

        return app

    mounts = PathMounts(app_named("default"))
    mounts.mount("/console", app_named("console"))
    mounts.mount("/mcp", app_named("mcp"))
    asyncio.run(mounts(_scope("GET", path), Exchange([]).receive, Exchange([]).send))
    assert seen == [(served_by, root_path)]


@pytest.mark.parametrize("prefix", ["console", "/console/", "/"])
def test_a_mount_prefix_must_be_an_absolute_path_without_a_trailing_slash(prefix: str) -> None:
    mounts = PathMounts(SyncHandlerApp(_ok, max_body_bytes=1, threads=1))
    with pytest.raises(ValueError, match="mount prefix"):
        mounts.mount(prefix, mounts.default)


# --- the Host check (DNS rebinding) ---------------------------------------------------------------
ALLOWED = AllowedHosts.loopback(7391, "http://127.0.0.1:7391")


@pytest.mark.parametrize("host", ["127.0.0.1:7391", "localhost:7391", "LOCALHOST:7391", "[::1]:7391"])
def test_the_loopback_names_with_the_served_port_are_answered(host: str) -> None:
    assert ALLOWED.allows(host)
    assert ALLOWED.refusal({"host": host}) is None


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:7391",  # a rebound name: the attacker's page, same-origin to the browser
        "evil.example",
        "127.0.0.1:7392",  # another port
        "127.0.0.1",  # the default port 80 is not the served one
        "127.0.0.1:7391.evil.example",
        "localhost:7391@evil.example",
        "",
        None,
    ],
)
def test_any_other_host_is_refused_421_with_the_projects_error(host: str | None) -> None:
    headers = {"traceparent": TRACEPARENT, **({"host": host} if host is not None else {})}

    refused = ALLOWED.refusal(headers)

    assert refused is not None
    status, response_headers, body = refused
    assert status == 421
    assert response_headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "misdirected_request"
    assert error["trace_id"] == TRACE_ID


def test_a_public_url_adds_its_own_host_and_port_and_a_default_port_may_be_left_out() -> None:
    allowed = AllowedHosts.loopback(7391, "https://agentcage.example", "http://dev.example:8080")

    assert allowed.allows("agentcage.example:443")
    assert allowed.allows("agentcage.example")
    assert allowed.allows("dev.example:8080")
    assert not allowed.allows("dev.example")
    assert not allowed.allows("agentcage.example:7391")


def test_the_guard_answers_before_any_app_sees_the_request_and_passes_the_right_host_on() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(str(scope["path"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mounts = PathMounts(app)
    mounts.mount("/api/mcp", app)
    guard = HostGuard(mounts, ALLOWED)

    rebound = Exchange([b'{"jsonrpc": "2.0"}'])
    asyncio.run(
        guard(
            _scope(path="/api/mcp/janitor-agent", headers={"host": "evil.example:7391"}),
            rebound.receive,
            rebound.send,
        )
    )
    own = Exchange([b""])
    asyncio.run(
        guard(
            _scope(path="/api/mcp/janitor-agent", headers={"host": "127.0.0.1:7391"}), own.receive, own.send
        )
    )

    assert rebound.status == 421
    assert rebound.body["error"]["code"] == "misdirected_request"
    assert rebound.received == 0  # the body was never read
    assert own.status == 204
    assert seen == ["/api/mcp/janitor-agent"]


# --- exact extra hosts for a port forward (agentcage dev --allow-host) -------------------------------------
def test_an_extra_host_adds_exactly_that_name_and_port() -> None:
    allowed = AllowedHosts.loopback(7391, "http://127.0.0.1:7391", extra_hosts=("LocalHost:8080", "[::1]:80"))

    assert allowed.allows("localhost:8080")
    assert allowed.allows("[::1]:80")
    assert not allowed.allows("[::1]")  # exact: not the port-less form of a default port
    assert not allowed.allows("localhost:8081")
    assert not allowed.allows("evil.example:8080")
    assert allowed.allows("127.0.0.1:7391")  # the loopback names stay


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("localhost:8080", "localhost:8080"),
        (" DEV.Example:0443 ", "dev.example:443"),
        ("[::1]:9000", "[::1]:9000"),
    ],
)
def test_an_allowed_host_is_normalised(value: str, normal: str) -> None:
    assert allowed_host(value) == normal


@pytest.mark.parametrize(
    "value",
    [
        "*:8080",
        "*.example:8080",
        "localhost",  # no port: would stand for a default port nobody forwards
        "localhost:*",
        "localhost:0",
        "localhost:65536",
        "localhost:80a",
        ":8080",
        "local_host:8080",
        "evil.example:8080@localhost:8080",
        "a..b:8080",
        "[::g]:8080",
        "::1:8080",
        "",
    ],
)
def test_a_wildcard_or_anything_but_one_exact_host_and_port_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="exact name:port"):
        allowed_host(value)
    with pytest.raises(ConfigurationError):
        AllowedHosts.loopback(7391, extra_hosts=(value,))
