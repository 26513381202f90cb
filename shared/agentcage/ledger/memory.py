"""The in-memory ledger: a lock-protected dict, for tests and one-process tools.

One re-entrant lock serializes every operation; items are stored as JSON text so no caller can
mutate a stored record through a shared reference.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agentcage.budget.breaker import BreakerSettings
from agentcage.ledger.hooks import Clock
from agentcage.ledger.serializable import ItemStore, SerializableLedger, decode, encode

__all__ = ["MemoryLedger"]


class _DictStore:
    """Items keyed by ``(pk, sk)`` with a sorted key list for prefix queries."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[str, float | None]] = {}
        self.sorted_keys: list[tuple[str, str]] = []

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self.items.get((pk, sk))
        return decode(found[0]) if found is not None else None

    def put(self, pk: str, sk: str, item: dict[str, Any], *, due: float | None = None) -> None:
        key = (pk, sk)
        if key not in self.items:
            bisect.insort(self.sorted_keys, key)
        self.items[key] = (encode(item), due)

    def insert(self, pk: str, sk: str, item: dict[str, Any], *, due: float | None = None) -> bool:
        if (pk, sk) in self.items:
            return False
        self.put(pk, sk, item, due=due)
        return True

    def delete(self, pk: str, sk: str) -> None:
        if self.items.pop((pk, sk), None) is not None:
            self.sorted_keys.remove((pk, sk))

    def query(
        self, pk: str, prefix: str, *, newest_first: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        start = bisect.bisect_left(self.sorted_keys, (pk, prefix))
        found: list[dict[str, Any]] = []
        for key in self.sorted_keys[start:]:
            if key[0] != pk or not key[1].startswith(prefix):
                break
            found.append(decode(self.items[key][0]))
        if newest_first:
            found.reverse()
        return found[:limit] if limit is not None else found

    def scan(self, prefix: str, *, due_before: float | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        for (pk, sk), (text, due) in list(self.items.items()):
            if not sk.startswith(prefix):
                continue
            if due_before is not None and (due is None or due > due_before):
                continue
            yield pk, decode(text)


class MemoryLedger(SerializableLedger):
    """A ledger that lives in this process's memory."""

    def __init__(self, *, breaker: BreakerSettings | None = None, clock: Clock | None = None) -> None:
        super().__init__(breaker=breaker, clock=clock)
        self._lock = threading.RLock()
        self._store = _DictStore()

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[ItemStore]:  # noqa: ARG002 - one lock for both
        # Writes are applied in place, so a failed operation must raise before its first put: every
        # hook checks first and writes last. The lock makes the check and the writes one step.
        with self._lock:
            yield self._store
