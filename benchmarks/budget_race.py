"""Concurrent workers spend against one task budget: the reserving ledger vs a post-hoc accountant.

For each backend (SQLite in a temporary file; DynamoDB served by moto_server on 127.0.0.1), on the
same store and in the same process:

* governed: each worker reserves an upper bound (300 tokens) through ``Ledger.reserve`` — the limit
  check and the reservation are one atomic operation — then "calls the model" (1-3 ms) and settles
  what the call really used (150-300 tokens), until the ledger refuses.
* naive: how gateways that count after the response work: each worker reads what the task has
  used, calls the model if that is under the budget, and records the use afterwards. The ledger
  records its use on a task with no binding limit, so only the naive check stands in the way.

``overshoot_tokens`` is how far settled use went past the budget (must be 0);
``naive_overshoot_tokens`` the same for the naive accountant. Reserve latency is the time of the
``reserve`` call alone, seen by a client among ``--workers`` concurrent ones (default 32; the
issue's figure is taken at 64). Goal: ``overshoot_tokens`` 0 on both backends at any worker count,
while the naive accountant, in the same run, overshoots (which shows the race is real).

moto_server runs one DynamoDB request at a time (see ``agentcage.ledger.testing``): DynamoDB
applies each request atomically, moto's threaded server does not (a failed transaction restores a
snapshot of the table, undoing concurrent writes), and the benchmark measures the ledger, not moto.

Usage: ``python benchmarks/budget_race.py [--workers 64] [--sqlite-budget 60000] [--dynamodb-budget 24000]``.
The last line of output is one JSON object; the run exits 1 when the ledger overshot on any backend.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentcage.budget.limits import BudgetLimits, Usage
from agentcage.errors import BudgetExceededError
from agentcage.ledger import Ledger, SQLiteLedger

RESERVE_TOKENS = 300
UNBOUNDED = 10**12


def _limits(tokens: int) -> BudgetLimits:
    return BudgetLimits(
        tokens=tokens,
        cost_micro_usd=UNBOUNDED,
        model_steps=UNBOUNDED,
        tool_calls=UNBOUNDED,
        deadline=datetime.now(UTC) + timedelta(hours=1),
    )


def _model_call(rng: random.Random) -> int:
    time.sleep(rng.uniform(0.001, 0.003))
    return rng.randint(150, RESERVE_TOKENS)


def _run_workers(workers: int, body: Callable[[int], None]) -> float:
    barrier = threading.Barrier(workers)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            body(index)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - started


def _governed(ledger: Ledger, workers: int, budget: int) -> dict[str, Any]:
    task = ledger.create_task(
        agent_id="race", environment="bench", request="governed", limits=_limits(budget)
    )
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        rng = random.Random(index)
        while True:
            started = time.perf_counter()
            try:
                reservation = ledger.reserve(
                    task.task_id, Usage(tokens=RESERVE_TOKENS, model_steps=1), kind="model"
                )
            except BudgetExceededError:
                return
            finally:
                with lock:
                    latencies.append(time.perf_counter() - started)
            ledger.settle(reservation.reservation_id, Usage(tokens=_model_call(rng), model_steps=1))

    elapsed = _run_workers(workers, worker)
    state = ledger.budget_state(task.task_id)
    ordered = sorted(latencies)
    return {
        "overshoot_tokens": max(0, state.used.tokens - budget),
        "settled_tokens": state.used.tokens,
        "reservations": state.used.model_steps,
        "reservations_per_s": round(state.used.model_steps / elapsed, 1),
        "reserve_p50_ms": round(statistics.median(ordered) * 1000, 2),
        "reserve_p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def _naive(ledger: Ledger, workers: int, budget: int) -> dict[str, Any]:
    task = ledger.create_task(
        agent_id="race", environment="bench", request="naive", limits=_limits(UNBOUNDED)
    )

    def worker(index: int) -> None:
        rng = random.Random(1000 + index)
        while ledger.budget_state(task.task_id).used.tokens < budget:  # check ...
            actual = _model_call(rng)  # ... call ...
            record = ledger.reserve(task.task_id, Usage(tokens=actual, model_steps=1), kind="model")
            ledger.settle(record.reservation_id, Usage(tokens=actual, model_steps=1))  # ... then record

    _run_workers(workers, worker)
    used = ledger.budget_state(task.task_id).used.tokens
    return {"naive_overshoot_tokens": max(0, used - budget), "naive_settled_tokens": used}


def _race(ledger: Ledger, workers: int, budget: int) -> dict[str, Any]:
    return {"budget_tokens": budget, **_governed(ledger, workers, budget), **_naive(ledger, workers, budget)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=32, help="concurrent workers (the issue's figure: 64)")
    parser.add_argument("--sqlite-budget", type=int, default=60_000)
    parser.add_argument("--dynamodb-budget", type=int, default=24_000)
    parser.add_argument("--no-dynamodb", action="store_true", help="skip the moto_server run")
    args = parser.parse_args()

    backends: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        sqlite = SQLiteLedger(Path(directory) / "ledger.db")
        backends["sqlite"] = _race(sqlite, args.workers, args.sqlite_budget)
        sqlite.close()
        print("sqlite", json.dumps(backends["sqlite"]), flush=True)

    if not args.no_dynamodb:
        from agentcage.ledger.dynamodb import DynamoDBLedger
        from agentcage.ledger.dynamodb_items import create_ledger_table
        from agentcage.ledger.testing import dynamodb_client, moto_server

        with moto_server() as endpoint:
            client = dynamodb_client(endpoint)
            create_ledger_table(client, "ledger")
            backends["dynamodb"] = _race(
                DynamoDBLedger("ledger", client=client), args.workers, args.dynamodb_budget
            )
        print("dynamodb", json.dumps(backends["dynamodb"]), flush=True)

    goal = {
        name: {
            "overshoot_tokens": figures["overshoot_tokens"],
            "goal": 0,
            "met": figures["overshoot_tokens"] == 0,
            "naive_overshoot_tokens": figures["naive_overshoot_tokens"],
        }
        for name, figures in backends.items()
    }
    print(
        json.dumps(
            {
                "benchmark": "budget_race",
                "workers": args.workers,
                "reserve_tokens": RESERVE_TOKENS,
                "actual_tokens_per_call": "150-300, after a 1-3 ms model call",
                "dynamodb_endpoint": "moto_server on 127.0.0.1, one request at a time",
                "goal": goal,
                "backends": backends,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )
    return 0 if all(entry["met"] for entry in goal.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
