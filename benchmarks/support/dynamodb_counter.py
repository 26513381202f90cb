"""A loopback proxy in front of a DynamoDB endpoint that records every request it forwards.

Used by ``benchmarks/ledger_round_trips.py``: the functions are pointed at the proxy by their own
``AWS_ENDPOINT_URL_DYNAMODB`` setting, so nothing in them is replaced, and each request is told apart by
what its caller already does differently: the access key id it signs with (a Lambda's execution role,
the coordinator's federated session, the benchmark's own key). For each request it keeps the time it
arrived, the signing key, the operation (``X-Amz-Target``), the table, and the kinds of ledger items
it touched (``TASK/META``, ``TASK/AUDIT``, ``CIRCUIT/STATE``: the key's segments before their first
``#``), read from the JSON body. The proxy does not interpret or change anything it forwards.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["CountingDynamoDBProxy", "DynamoDBRequest", "item_kinds"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}
)
_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DynamoDBRequest:
    """One forwarded request: when it arrived (``time.monotonic``), who signed it, what it did."""

    at: float
    access_key: str | None
    operation: str
    table: str | None
    kinds: tuple[str, ...]
    status: int


def _kind(key: Any) -> str | None:
    """``TASK/AUDIT`` for ``{"PK": {"S": "TASK#.."}, "SK": {"S": "AUDIT#.."}}``; None when not a key."""
    if not isinstance(key, dict):
        return None
    parts = []
    for name in ("PK", "SK"):
        value = key.get(name)
        text = value.get("S") if isinstance(value, dict) else None
        if not isinstance(text, str):
            return None
        parts.append(text.split("#", 1)[0])
    return "/".join(parts)


def item_kinds(body: dict[str, Any]) -> tuple[str, ...]:
    """The kinds of items a request names: its Key or Item, each transaction item's, a query's prefix."""
    found: list[str | None] = [_kind(body.get("Key")), _kind(body.get("Item"))]
    actions = [
        action
        for entry in body.get("TransactItems") or []
        if isinstance(entry, dict)
        for action in entry.values()
        if isinstance(action, dict)
    ]
    found.extend(_kind(action.get("Key")) or _kind(action.get("Item")) for action in actions)
    values = body.get("ExpressionAttributeValues")
    if "KeyConditionExpression" in body and isinstance(values, dict):
        pk = (values.get(":pk") or {}).get("S", "")
        prefix = (values.get(":prefix") or {}).get("S", "")
        found.append(f"{pk.split('#', 1)[0] or '?'}/{prefix.split('#', 1)[0] or '*'} (query)")
    if body.get("FilterExpression") is not None and "KeyConditionExpression" not in body:
        found.append("* (scan)")
    return tuple(kind for kind in found if kind)


def _access_key(authorization: str) -> str | None:
    _, found, rest = authorization.partition("Credential=")
    return rest.split("/", 1)[0] if found else None


class CountingDynamoDBProxy:
    """Forwards HTTP requests to ``upstream`` (a DynamoDB endpoint URL) and records each one."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the proxy forwards to a plain-HTTP loopback endpoint, not {upstream!r}")
        self._upstream = (parts.hostname, parts.port or 80)
        self._records: list[DynamoDBRequest] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint URL to give the callers."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> CountingDynamoDBProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="ddb-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def mark(self) -> int:
        """A position in the record, for :meth:`since`."""
        with self._lock:
            return len(self._records)

    def since(self, mark: int = 0) -> list[DynamoDBRequest]:
        """The requests recorded after ``mark``."""
        with self._lock:
            return self._records[mark:]

    def __iter__(self) -> Iterator[DynamoDBRequest]:
        return iter(self.since())

    # --- forwarding ---------------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(*self._upstream, timeout=60)
            self._local.connection = connection
        return connection

    def _forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        for attempt in (1, 2):  # a kept-alive upstream connection may have been closed: reconnect once
            connection = self._connection()
            try:
                connection.request(method, path, body=body, headers=dict(headers))
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(self, headers: dict[str, str], body: bytes, status: int, at: float) -> None:
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        target = headers.get("x-amz-target", "")
        table = document.get("TableName")
        if table is None and document.get("TransactItems"):
            first: Any = next(iter(document["TransactItems"][0].values()), {})
            table = first.get("TableName") if isinstance(first, dict) else None
        record = DynamoDBRequest(
            at=at,
            access_key=_access_key(headers.get("authorization", "")),
            operation=target.rpartition(".")[2] or "?",
            table=table if isinstance(table, str) else None,
            kinds=item_kinds(document),
            status=status,
        )
        with self._lock:
            self._records.append(record)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # botocore keeps connections alive

            def do_POST(self) -> None:
                at = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, _MAX_BODY))
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
                try:
                    status, answer_headers, payload = proxy._forward(self.command, self.path, headers, body)
                except OSError as error:
                    self.send_error(502, f"upstream unreachable: {error}")
                    return
                proxy._record({k.lower(): v for k, v in headers}, body, status, at)
                self.send_response(status)
                for name, value in answer_headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST  # noqa: N815 - health checks and the like pass through too

            def log_message(self, *_: Any) -> None:
                return None  # the record is the proxy's own

        return Handler
