"""The SQLite ledger: the embedded default of the local runtime.

WAL mode (readers never block the writer), one transaction per operation, and every write
transaction opened with ``BEGIN IMMEDIATE`` so it takes the database's write lock before it reads:
the limit check and the reservation can never interleave with another writer, whether that writer
is a thread of this process (each thread has its own connection) or another process on the same
file. ``busy_timeout`` makes a writer wait for the lock instead of failing at once.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentcage.budget.breaker import BreakerSettings
from agentcage.constants import LEDGER_SQLITE_PATH_ENV
from agentcage.errors import LedgerUnavailableError
from agentcage.ledger.hooks import Clock
from agentcage.ledger.serializable import ItemStore, SerializableLedger, decode, encode
from agentcage.sqlite_connections import ThreadConnections

__all__ = ["DEFAULT_SQLITE_PATH", "SQLiteLedger"]

DEFAULT_SQLITE_PATH = Path(".agentcage") / "ledger.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk   TEXT NOT NULL,
    sk   TEXT NOT NULL,
    data TEXT NOT NULL,
    due  REAL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_sk ON items (sk);
CREATE INDEX IF NOT EXISTS items_by_due ON items (due) WHERE due IS NOT NULL;
"""


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class _SQLiteStore:
    """The item operations over one connection inside its current transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        row = self.connection.execute("SELECT data FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
        return decode(row[0]) if row is not None else None

    def put(self, pk: str, sk: str, item: dict[str, Any], *, due: float | None = None) -> None:
        self.connection.execute(
            "INSERT INTO items (pk, sk, data, due) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, due = excluded.due",
            (pk, sk, encode(item), due),
        )

    def insert(self, pk: str, sk: str, item: dict[str, Any], *, due: float | None = None) -> bool:
        cursor = self.connection.execute(
            "INSERT INTO items (pk, sk, data, due) VALUES (?, ?, ?, ?) ON CONFLICT (pk, sk) DO NOTHING",
            (pk, sk, encode(item), due),
        )
        return cursor.rowcount == 1

    def delete(self, pk: str, sk: str) -> None:
        self.connection.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (pk, sk))

    def query(
        self, pk: str, prefix: str, *, newest_first: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        order = "DESC" if newest_first else "ASC"
        rows = self.connection.execute(
            f"SELECT data FROM items WHERE pk = ? AND sk >= ? AND sk < ? ORDER BY sk {order} LIMIT ?",  # noqa: S608 - order is one of two literals
            (pk, prefix, _prefix_end(prefix), -1 if limit is None else limit),
        ).fetchall()
        return [decode(row[0]) for row in rows]

    def scan(self, prefix: str, *, due_before: float | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        if due_before is None:
            rows = self.connection.execute(
                "SELECT pk, data FROM items WHERE sk >= ? AND sk < ?", (prefix, _prefix_end(prefix))
            ).fetchall()
        else:
            rows = self.connection.execute(
                "SELECT pk, data FROM items WHERE due IS NOT NULL AND due <= ? AND sk >= ? AND sk < ?",
                (due_before, prefix, _prefix_end(prefix)),
            ).fetchall()
        for pk, data in rows:
            yield pk, decode(data)


class SQLiteLedger(SerializableLedger):
    """A ledger in one SQLite file, shared safely by threads and processes."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        busy_timeout_ms: int = 30_000,
        breaker: BreakerSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(breaker=breaker, clock=clock)
        self.path = Path(path or os.environ.get(LEDGER_SQLITE_PATH_ENV) or DEFAULT_SQLITE_PATH)
        self.busy_timeout_ms = busy_timeout_ms
        self._writer = threading.Lock()
        with self._guard():
            # FULL: a committed reservation survives a power cut, so spend is never forgotten.
            self._connections = ThreadConnections(
                self.path, busy_timeout_ms=busy_timeout_ms, synchronous="FULL", schema=_SCHEMA
            )

    def _connection(self) -> sqlite3.Connection:
        return self._connections.get()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as error:
            raise LedgerUnavailableError(
                f"the SQLite ledger at {self.path} did not answer: {error}"
            ) from error

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[ItemStore]:
        # Writers of this process queue on a lock first: SQLite's busy handler waits by sleeping
        # with backoff, which gives 32 threads a tail latency of hundreds of milliseconds; the lock
        # hands the database over at once. BEGIN IMMEDIATE still excludes writers of other processes.
        with self._writer if write else contextlib.nullcontext():
            connection = self._connection()
            with self._guard():
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield _SQLiteStore(connection)
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this ledger opened (from any thread)."""
        self._connections.close()
