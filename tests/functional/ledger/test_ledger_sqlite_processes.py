"""SQLite: several processes spending against one task in one file never pass its budget."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from agentcage.budget.limits import Usage
from agentcage.errors import BudgetExceededError
from agentcage.ledger import SQLiteLedger
from tests.functional.ledger.ledger_support import FakeClock, new_task


def _spend(path: str, task_id: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    ledger = SQLiteLedger(path)
    spent = 0
    for _ in range(40):
        try:
            reservation = ledger.reserve(task_id, Usage(tokens=70, model_steps=1), kind="model")
        except BudgetExceededError:
            break
        ledger.settle(reservation.reservation_id, Usage(tokens=70, model_steps=1))
        spent += 70
    ledger.close()
    results.put(spent)


def test_processes_sharing_the_file_never_overspend(tmp_path: Path) -> None:
    # GIVEN a task with 2000 tokens in a SQLite file, and four processes spending 70 at a time
    path = tmp_path / "ledger.db"
    owner = SQLiteLedger(path)
    task = new_task(owner, FakeClock(owner.now()), tokens=2000, model_steps=1000)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_spend, args=(str(path), task.task_id, results)) for _ in range(4)]

    for worker in workers:
        worker.start()
    spent = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)

    # THEN together they spent the most that fits (28 x 70 = 1960) and the ledger says exactly that
    assert sum(spent) == 1960
    assert owner.budget_state(task.task_id).used.tokens == 1960
    owner.close()
