"""The in-process DynamoDB's tables kept in the state directory, written through on every write.

moto keeps tables in memory, so without this a restarted ``agentcage dev`` would start from the seed
again: an order refunded before the restart would be refundable a second time. :class:`TableSnapshots`
stores each table's items in SQLite (``dynamodb.db`` beside the ledger) and puts them back when the
host starts. It watches the data services' own DynamoDB calls through botocore's event hooks (as moto
itself intercepts them): after every successful write to one of its tables it copies that table, in
one SQLite transaction, before the call returns to the service. So a write the service saw succeed is
on disk, and a ``kill -9`` can lose only a write whose caller never got an answer (which the executor
retries after its lease, as it would in the cloud).

With a DynamoDB endpoint (``--dynamodb-endpoint``) none of this runs: the endpoint keeps the tables.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["WRITE_OPERATIONS", "TableSnapshots"]

_log = logging.getLogger("agentcage.local")

WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
"""The DynamoDB operations after which a table is copied."""
_TABLES_KEY = "agentcage_written_tables"  # where a call's context carries the tables it writes
_SCAN_ATTEMPTS = 3


class TableSnapshots:
    """Copies of ``tables`` in the SQLite file at ``path``; ``client`` makes a DynamoDB client."""

    def __init__(self, path: Path, tables: Iterable[str], client: Callable[[], Any]) -> None:
        self.path = path
        self.tables = frozenset(tables)
        self._client = client
        self._lock = threading.Lock()
        self._handlers: list[tuple[str, Callable[..., None]]] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS items (table_name TEXT NOT NULL, position INTEGER NOT NULL,"
            " item TEXT NOT NULL, PRIMARY KEY (table_name, position))"
        )

    # --- restore and save ---------------------------------------------------------------------------
    def restore(self) -> int:
        """Put every stored item back into its (empty, just created) table; returns how many."""
        client = self._client()
        restored = 0
        with self._lock:
            rows = self._db.execute(
                "SELECT table_name, item FROM items ORDER BY table_name, position"
            ).fetchall()
        for table, item in rows:
            if table in self.tables:
                client.put_item(TableName=table, Item=_decode(json.loads(item)))
                restored += 1
        return restored

    def save(self, table: str) -> int:
        """Copy ``table`` as it is now over its stored copy; returns how many items it holds."""
        client = self._client()
        with self._lock:  # a save that scans later also writes later: the last copy is the newest
            items = self._scan(client, table)
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM items WHERE table_name = ?", (table,))
                self._db.executemany(
                    "INSERT INTO items (table_name, position, item) VALUES (?, ?, ?)",
                    [(table, n, json.dumps(_encode(item), sort_keys=True)) for n, item in enumerate(items)],
                )
        return len(items)

    def stored(self, table: str) -> int:
        """How many items the stored copy of ``table`` holds."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM items WHERE table_name = ?", (table,)).fetchone()
        return int(row[0])

    @staticmethod
    def _scan(client: Any, table: str) -> list[dict[str, Any]]:
        for attempt in range(1, _SCAN_ATTEMPTS + 1):
            items: list[dict[str, Any]] = []
            try:
                for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                    items.extend(page.get("Items", []))
            except RuntimeError:  # moto's in-memory table changed under the scan (another writer)
                if attempt == _SCAN_ATTEMPTS:
                    raise
            else:
                return items
        return []  # not reached: the last attempt returns or raises

    # --- watching the services' writes --------------------------------------------------------------
    def watch(self) -> None:
        """Copy a table after every successful write to it by any DynamoDB client made from now on."""
        import boto3
        from botocore.handlers import BUILTIN_HANDLERS

        if self._handlers:
            return
        self._handlers = [
            ("before-parameter-build.dynamodb", self._note_written_tables),
            ("after-call.dynamodb", self._copy_written_tables),
        ]
        BUILTIN_HANDLERS.extend(self._handlers)
        # A botocore session takes the built-in handlers when it is made: boto3's default session is
        # made again on next use (moto's mock restores the one it replaced when it stops).
        boto3.DEFAULT_SESSION = None

    def close(self) -> None:
        """Stop watching and close the file."""
        from botocore.handlers import BUILTIN_HANDLERS

        for handler in self._handlers:
            if handler in BUILTIN_HANDLERS:
                BUILTIN_HANDLERS.remove(handler)
        self._handlers = []
        with self._lock:
            self._db.close()

    def _note_written_tables(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if model.name in WRITE_OPERATIONS:
            written = _tables_named(params) & self.tables
            if written:
                context[_TABLES_KEY] = written

    def _copy_written_tables(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        written = context.get(_TABLES_KEY)
        if not written or model.name not in WRITE_OPERATIONS or not 200 <= http_response.status_code < 300:
            return
        for table in sorted(written):
            self.save(table)


def _tables_named(params: dict[str, Any]) -> set[str]:
    """The tables a write's parameters name (one table, batch items, or transaction items)."""
    names = {params["TableName"]} if isinstance(params.get("TableName"), str) else set()
    names.update(name for name in params.get("RequestItems") or {} if isinstance(name, str))
    for entry in params.get("TransactItems") or []:
        for action in entry.values() if isinstance(entry, dict) else ():
            if isinstance(action, dict) and isinstance(action.get("TableName"), str):
                names.add(action["TableName"])
    return names


def _encode(value: Any) -> Any:
    """A low-level attribute value as JSON (binary values, ``B``/``BS``, as base64)."""
    if isinstance(value, bytes | bytearray):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b64"}:
            return base64.b64decode(value["$b64"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value
