"""Races the queues make possible, on the real ledger backends: results finishing a step together,
and two copies of one step message running at once."""

from __future__ import annotations

import threading

from agentcage.coordinator import Outbox
from agentcage.ledger import Ledger
from tests.functional.coordinator.coordinator_support import FakeExecutor, make_coordinator
from tests.functional.ledger.ledger_support import run_threads

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"


def test_results_that_finish_a_step_together_advance_it_exactly_once(ledger: Ledger) -> None:
    coordinator = make_coordinator(ledger)
    for _ in range(3):
        started = coordinator.start_task({"request": REFUND})
        first = coordinator.run_step(started.step)
        results = [FakeExecutor(ledger).execute(r) for r in first.tool_requests]
        outboxes: list[Outbox] = []
        lock = threading.Lock()

        def deliver(
            index: int, results: list = results, outboxes: list = outboxes, lock: threading.Lock = lock
        ) -> None:
            outbox = coordinator.record_result(results[index])
            with lock:
                outboxes.append(outbox)

        assert run_threads(len(results), deliver) == []
        steps = [s for o in outboxes for s in o.agent_steps]
        assert [s.step for s in steps] == [2]


def test_two_copies_of_a_step_running_at_once_send_one_set_of_requests(ledger: Ledger) -> None:
    coordinator = make_coordinator(ledger)
    started = coordinator.start_task({"request": REFUND})
    outboxes: list[Outbox] = []
    lock = threading.Lock()

    def run(_: int) -> None:
        outbox = coordinator.run_step(started.step)
        with lock:
            outboxes.append(outbox)

    assert run_threads(2, run) == []

    ids = [sorted((r.message_id, r.reservation_id) for r in o.tool_requests) for o in outboxes]
    assert len(ids) == 2
    assert ids[0] == ids[1]
    assert len(ids[0]) == 2
    budget = ledger.budget_state(started.task.task_id)
    assert budget.reserved.tool_calls == 2  # the copy that lost gave its reservations back
    assert budget.used.model_steps in (1, 2)  # a model call that really ran is counted, once per call
