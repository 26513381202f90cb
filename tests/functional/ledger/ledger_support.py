"""Helpers shared by the ledger conformance suite (functional: in-process; integration: moto_server)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentcage.budget.breaker import BreakerSettings
from agentcage.budget.limits import BudgetLimits
from agentcage.ledger import Ledger, MemoryLedger, SQLiteLedger, TaskRecord

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
BREAKER = BreakerSettings(failure_threshold=3, cooldown_seconds=30, probe_timeout_seconds=20)


class FakeClock:
    """A clock the test moves by hand; thread-safe so concurrent tests can read it."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


def limits(clock: FakeClock, **overrides: Any) -> BudgetLimits:
    values: dict[str, Any] = {
        "tokens": 10_000,
        "cost_micro_usd": 50_000,
        "model_steps": 10,
        "tool_calls": 10,
        "deadline": clock() + timedelta(minutes=15),
    }
    values.update(overrides)
    return BudgetLimits(**values)


def new_task(ledger: Ledger, clock: FakeClock, *, running: bool = True, **limit_overrides: Any) -> TaskRecord:
    task = ledger.create_task(
        agent_id="returns-agent",
        environment="dev",
        request="refund order O-1001 outside the return window",
        limits=limits(clock, **limit_overrides),
        context={"customer_id": "C-1", "channel": "phone"},
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    if running:
        task = ledger.transition(task.task_id, "running")
    return task


def run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Start ``count`` threads at once (a barrier) and return the exceptions they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def body(index: int) -> None:
        barrier.wait()
        try:
            target(index)
        except BaseException as error:
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@contextmanager
def in_process_ledger(backend: str, clock: FakeClock, tmp_path: Path) -> Iterator[Ledger]:
    """A fresh ledger of ``backend`` (memory, sqlite, dynamodb through moto in-process)."""
    if backend == "memory":
        yield MemoryLedger(breaker=BREAKER, clock=clock)
        return
    if backend == "sqlite":
        sqlite = SQLiteLedger(tmp_path / "ledger.db", breaker=BREAKER, clock=clock)
        try:
            yield sqlite
        finally:
            sqlite.close()
        return
    from moto import mock_aws

    from agentcage.ledger.dynamodb import DynamoDBLedger
    from agentcage.ledger.dynamodb_items import create_ledger_table
    from agentcage.ledger.testing import dynamodb_client, serialize_moto_dynamodb

    with mock_aws(), serialize_moto_dynamodb():
        client = dynamodb_client()
        create_ledger_table(client, "ledger")
        yield DynamoDBLedger("ledger", client=client, breaker=BREAKER, clock=clock)
