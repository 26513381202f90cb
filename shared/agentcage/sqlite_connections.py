"""One SQLite connection per thread on one file, in WAL mode: what the ledger and the local queues share.

``sqlite3`` connections must not be used by two threads at once, so each thread gets its own
(``check_same_thread=False`` only so :meth:`ThreadConnections.close` can close them all from one
thread). ``isolation_level=None``: the module starts no transactions of its own; callers ``BEGIN``
explicitly. WAL lets readers run beside the one writer; ``busy_timeout`` makes a writer wait for the
lock instead of failing at once, also across processes sharing the file.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Literal

__all__ = ["ThreadConnections"]


class ThreadConnections:
    """Per-thread connections to ``path`` with the pragmas set; the file and its folder are created."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int,
        synchronous: Literal["FULL", "NORMAL"],
        schema: str = "",
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous
        self._local = threading.local()
        self._open: list[sqlite3.Connection] = []
        self._open_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        first = self.get()
        first.execute("PRAGMA journal_mode=WAL")
        if schema:
            first.executescript(schema)

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            connection.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._local.connection = connection
            with self._open_lock:
                self._open.append(connection)
        return connection

    def close(self) -> None:
        """Close every connection opened here, from any thread."""
        with self._open_lock:
            for connection in self._open:
                connection.close()
            self._open.clear()
        self._local = threading.local()
