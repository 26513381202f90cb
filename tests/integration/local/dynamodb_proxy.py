"""A DynamoDB relay for kill -9 tests: it holds matching requests once armed, then drops them.

So a test can put a process's call at a known point (inside the approved refund's call, its reservation
consumed, the refund not written), kill the process there, and know the held call never lands.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from agentcage.ledger.testing import dynamodb_client
from agentcage.local.config import DOMAIN_TABLE

__all__ = ["HELD_MARKER", "HoldingProxy", "holding_proxy", "refunds_for"]

HELD_MARKER = b"C-1001"  # in the refund's transaction and order read, and in the lookup's read
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"})


class HoldingProxy(ThreadingHTTPServer):
    """An HTTP relay to DynamoDB that, once armed, holds matching requests until released, then drops them."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        split = urlsplit(upstream)
        self.upstream = (split.hostname or "127.0.0.1", split.port or 80)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.marker: bytes | None = None
        self.held = 0
        self._changed = threading.Condition()
        self._released = threading.Event()

    def arm(self, marker: bytes) -> None:
        with self._changed:
            self.marker = marker

    def holds(self, body: bytes) -> bool:
        """Hold a matching request until :meth:`release`; True: it is dropped, not relayed."""
        with self._changed:
            if self.marker is None or self.marker not in body:
                return False
            self.held += 1
            self._changed.notify_all()
        self._released.wait(60)
        return True

    def wait_held(self, count: int, timeout_s: float = 20.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.held >= count, timeout_s):
                raise TimeoutError(f"{self.held} requests held, expected {count}")

    def release(self) -> None:
        self._released.set()


class _Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # botocore keeps its connections alive
    server: HoldingProxy

    def do_POST(self) -> None:  # DynamoDB's JSON protocol is POST only
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.holds(body):
            self.close_connection = True
            return
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        try:
            upstream.request(self.command, self.path, body, dict(self.headers.items()))
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def holding_proxy(upstream: str) -> Iterator[HoldingProxy]:
    """A running :class:`HoldingProxy` to ``upstream``; on exit it releases (drops) what it holds."""
    server = HoldingProxy(upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release()
        server.shutdown()
        server.server_close()


def refunds_for(endpoint: str, order_id: str) -> int:
    response = dynamodb_client(endpoint).scan(
        TableName=DOMAIN_TABLE,
        FilterExpression="begins_with(PK, :refund) AND order_id = :order",
        ExpressionAttributeValues={":refund": {"S": "REFUND#"}, ":order": {"S": order_id}},
    )
    return int(response["Count"])
