"""Invocation statistics of the local host: how often each function ran, failed, and how long it took."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from agentcage.local.workers import InvocationRecord

__all__ = ["InvocationStats"]


class InvocationStats:
    """Thread-safe counters and durations per function."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, list[InvocationRecord]] = defaultdict(list)

    def add(self, record: InvocationRecord) -> None:
        """Count one invocation."""
        with self._lock:
            self._records[record.function].append(record)

    def durations(self, function: str) -> list[float]:
        """Seconds each invocation of ``function`` took, in order."""
        with self._lock:
            return [record.seconds for record in self._records.get(function, [])]

    def summary(self) -> dict[str, Any]:
        """Per function: invocations, messages, failed messages, total seconds."""
        with self._lock:
            return {
                name: {
                    "invocations": len(records),
                    "messages": sum(r.messages for r in records),
                    "failed": sum(r.failed for r in records),
                    "seconds": round(sum(r.seconds for r in records), 4),
                }
                for name, records in self._records.items()
            }

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._records.clear()
