"""Recovering from a crash or a lost send, on the real ledger backends: the same approval decided twice
at once sends one request, and a step returns the reservations a crashed attempt abandoned."""

from __future__ import annotations

import threading

from agentcage.budget.limits import Usage
from agentcage.coordinator import Outbox
from agentcage.envelopes import AgentStep
from agentcage.ledger import Ledger, ReservationStatus, TaskState
from tests.functional.coordinator.coordinator_support import (
    APPROVER,
    Driver,
    FakeClock,
    FakeExecutor,
    make_coordinator,
)
from tests.functional.ledger.ledger_support import run_threads

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"


def test_the_same_approval_decided_twice_at_once_sends_one_request(ledger: Ledger) -> None:
    # GIVEN a refund waiting for its approval
    coordinator = make_coordinator(ledger)
    driver = Driver(coordinator, FakeExecutor(ledger))
    task_id = driver.start(REFUND)
    [approval] = ledger.pending_approvals(task_id)
    outboxes: list[Outbox] = []
    lock = threading.Lock()

    # WHEN two copies of the approver's POST run at once
    def approve(_: int) -> None:
        outbox = coordinator.decide_approval(approval.approval_id, approve=True, principal=APPROVER)
        with lock:
            outboxes.append(outbox)

    assert run_threads(2, approve) == []

    # THEN both answer with the same single request; whichever copy lost gave its reservation back
    requests = [r for o in outboxes for r in o.tool_requests]
    assert len(requests) == 2
    assert requests[0] == requests[1]
    assert ledger.budget_state(task_id).reserved.tool_calls == 1
    for outbox in outboxes:
        driver.push(outbox)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    assert driver.executor.replays == 1
    assert ledger.budget_state(task_id).reserved.tool_calls == 0


def test_a_step_returns_what_a_crashed_attempt_reserved_before_its_budget_check(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a task whose every tool call is held by reservations of an attempt that crashed before
    # sending them, and whose model call of that attempt was left unsettled
    coordinator = make_coordinator(ledger)
    started = coordinator.start_task({"request": REFUND, "budget": {"model_steps": 4, "tool_calls": 3}})
    task_id = started.task.task_id
    unsent = ledger.reserve(task_id, Usage(tool_calls=3), kind="tool", tool="getCustomer", ttl_seconds=60)
    unsettled = ledger.reserve(task_id, Usage(tokens=500, model_steps=1), kind="model", ttl_seconds=60)
    clock.advance(61)

    # WHEN the step runs
    outbox = coordinator.run_step(started.step)

    # THEN the abandoned reservations were returned first: the tool calls released (nothing ran), the
    # model call charged (it may have been billed); and the step ran and requested its tool calls
    assert ledger.get_reservation(unsent.reservation_id).status is ReservationStatus.EXPIRED
    assert ledger.get_reservation(unsent.reservation_id).actual is None
    assert ledger.get_reservation(unsettled.reservation_id).actual == Usage(tokens=500, model_steps=1)
    assert ledger.get_task(task_id).state is TaskState.RUNNING
    assert outbox.tool_requests
    assert ledger.budget_state(task_id).used.model_steps == 2
    assert "reservation_expired" in [e.kind for e in ledger.audit(task_id)]


def test_a_step_does_not_return_a_reservation_that_is_still_in_time(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a reservation that is still within its time (its call may be running right now)
    coordinator = make_coordinator(ledger)
    started = coordinator.start_task({"request": REFUND, "budget": {"model_steps": 4}})
    task_id = started.task.task_id
    live = ledger.reserve(task_id, Usage(model_steps=4), kind="model", ttl_seconds=600)
    clock.advance(61)

    coordinator.run_step(AgentStep(task_id=task_id, step=1, traceparent=started.step.traceparent))

    # THEN it still holds the budget, so the step could not reserve a model call and the task halted
    assert ledger.get_reservation(live.reservation_id).status is ReservationStatus.ACTIVE
    task = ledger.get_task(task_id)
    assert task.state is TaskState.HALTED
    assert "no model step left" in (task.halt_reason or "")
