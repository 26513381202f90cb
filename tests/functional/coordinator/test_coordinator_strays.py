"""On the real ledger backends: a crashed step's approvals are superseded, and a task whose stored
context points at another task's call cannot answer it."""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.errors import TransportError
from agentcage.ledger import ApprovalStatus, Ledger, TaskState
from tests.functional.coordinator.coordinator_support import (
    FINANCE,
    Driver,
    FakeExecutor,
    RecordingNotifier,
    make_coordinator,
)

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"


def _settle(driver: Driver) -> None:
    for _ in range(200):
        if driver.steps:
            step = driver.steps.popleft()
            try:
                driver.push(driver.coordinator.run_step(step))
            except TransportError:
                driver.steps.append(step)  # redelivered, like the queue
        elif driver.requests:
            result = driver.executor.execute(driver.requests.popleft())
            if result is not None:
                driver.push(driver.coordinator.record_result(result))
        else:
            return
    raise AssertionError("the driver did not settle")


def test_a_step_that_crashed_before_its_checkpoint_leaves_no_approval_waiting(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = RecordingNotifier()
    coordinator = make_coordinator(ledger, notifier=notifier)
    save = ledger.save_checkpoint
    failed: list[int] = []

    def flaky(task_id: str, step: int, data: Any) -> bool:
        asks = any(c.get("outcome") == "approval" for t in data.get("turns", []) for c in t.get("calls", []))
        if asks and not failed:
            failed.append(step)
            raise TransportError("ledger hiccup while saving the checkpoint")
        return save(task_id, step, data)

    monkeypatch.setattr(ledger, "save_checkpoint", flaky)
    driver = Driver(coordinator, FakeExecutor(ledger))
    started = coordinator.start_task({"request": REFUND})
    driver.steps.append(started.step)
    task_id = started.task.task_id

    _settle(driver)

    assert failed
    [pending] = ledger.pending_approvals(task_id)
    assert [n.approval_id for n in notifier.notices] == [pending.approval_id]
    [stray] = [e.data["approval_id"] for e in ledger.audit(task_id) if e.kind == "approval_superseded"]
    assert ledger.get_approval(stray).status is ApprovalStatus.DENIED
    driver.push(coordinator.decide_approval(pending.approval_id, approve=True, principal=FINANCE))
    _settle(driver)
    assert ledger.get_task(task_id).state is TaskState.COMPLETED


def test_a_task_pointing_at_another_tasks_call_reports_nothing(ledger: Ledger) -> None:
    coordinator = make_coordinator(ledger)
    driver = Driver(coordinator, FakeExecutor(ledger))
    victim = driver.start(REFUND)
    _, checkpoint = coordinator._checkpoint(victim)
    assert checkpoint.last is not None
    [call] = [c for c in checkpoint.last.calls if c.approval_id]
    forged = ledger.create_task(
        agent_id="returns-coordinator",
        environment="dev",
        request="hello",
        limits=ledger.get_task(victim).limits,
        context={"parent_task_id": victim, "parent_request_id": call.request_id},
    )
    driver.steps.append(coordinator.agent_step(forged, 1))
    driver.run()

    assert ledger.get_task(forged.task_id).state is TaskState.COMPLETED
    assert call.request_id not in {r.request_id for r in ledger.tool_results(victim)}
    assert ledger.get_task(victim).state is TaskState.AWAITING_APPROVAL
