"""A tiny Chat Completions server on 127.0.0.1 that answers queued, recorded responses.

Each queued :class:`Reply` is served to one request, in order; every request is kept (method, path,
headers, JSON body) so tests assert what the real ``openai`` client sent.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).parent / "recordings"


def recording(name: str) -> dict[str, Any]:
    """A recorded response body from ``recordings/<name>.json``."""
    return json.loads((RECORDINGS / f"{name}.json").read_text())


@dataclass
class Reply:
    """One answer: HTTP status, JSON body, extra headers, and a delay before answering."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ChatServer:
    """Serves queued replies; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[SeenRequest] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                server.requests.append(
                    SeenRequest(
                        "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw)
                    )
                )
                reply = (
                    server.replies.popleft()
                    if server.replies
                    else Reply(500, {"error": {"message": "no reply queued"}})
                )
                if reply.delay_s:
                    server.release.wait(reply.delay_s)
                payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the tests read requests instead
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)
