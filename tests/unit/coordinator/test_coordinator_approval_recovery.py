"""Approvals after a crash, a lost checkpoint race or a failed notification.

A step creates its approvals before it saves its checkpoint. A copy that crashes in between, or loses
the checkpoint race to a concurrent copy, leaves approvals no checkpointed call names: nobody can
decide them (409), and the task must not wait for them. A step that dies after its checkpoint but
before notifying must notify on its redelivery.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.coordinator import Coordinator
from agentcage.coordinator.core import SUPERSEDING_APPROVER
from agentcage.envelopes import AgentStep
from agentcage.errors import ConflictError, LedgerUnavailableError, TransportError
from agentcage.ledger import ApprovalStatus, MemoryLedger, TaskState
from tests.functional.coordinator.coordinator_support import (
    FINANCE,
    Driver,
    FakeClock,
    FakeExecutor,
    RecordingNotifier,
    budget_config,
    make_coordinator,
)

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger(breaker=budget_config().breaker, clock=FakeClock())


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def coordinator(ledger: MemoryLedger, notifier: RecordingNotifier) -> Coordinator:
    return make_coordinator(ledger, notifier=notifier)


def _run_redelivering(driver: Driver, failure: type[Exception]) -> list[int]:
    """Like the queues: a step that raises ``failure`` is delivered again. Returns the failed steps."""
    failed: list[int] = []
    for _ in range(200):
        if driver.steps:
            step = driver.steps.popleft()
            try:
                driver.push(driver.coordinator.run_step(step))
            except failure:
                failed.append(step.step)
                driver.steps.append(step)
        elif driver.requests:
            result = driver.executor.execute(driver.requests.popleft())
            if result is not None:
                driver.push(driver.coordinator.record_result(result))
        else:
            return failed
    raise AssertionError("the driver did not settle")


def _approval_call_ids(coordinator: Coordinator, task_id: str) -> list[str]:
    _, checkpoint = coordinator._checkpoint(task_id)
    assert checkpoint.last is not None
    return [str(c.approval_id) for c in checkpoint.last.calls if c.approval_id]


def test_approvals_of_a_step_that_crashed_before_its_checkpoint_do_not_block_the_task(
    coordinator: Coordinator, ledger: MemoryLedger
) -> None:
    # GIVEN the checkpoint write of the step that asks for the refund's approval fails once
    save = ledger.save_checkpoint
    state = {"failed": False}

    def flaky(task_id: str, step: int, data: Any) -> bool:
        asks = any(c.get("outcome") == "approval" for t in data.get("turns", []) for c in t.get("calls", []))
        if asks and not state["failed"]:
            state["failed"] = True
            raise TransportError("ledger hiccup while saving the checkpoint")
        return save(task_id, step, data)

    ledger.save_checkpoint = flaky  # type: ignore[method-assign]
    driver = Driver(coordinator, FakeExecutor(ledger))
    started = coordinator.start_task({"request": REFUND})
    driver.steps.append(started.step)
    task_id = started.task.task_id

    # WHEN the step is redelivered and runs again
    assert _run_redelivering(driver, TransportError) == [3]

    # THEN only the checkpointed call's approval waits; the crashed copy's was denied as superseded
    [live] = _approval_call_ids(coordinator, task_id)
    assert [a.approval_id for a in ledger.pending_approvals(task_id)] == [live]
    superseded = [e.data["approval_id"] for e in ledger.audit(task_id) if e.kind == "approval_superseded"]
    assert len(superseded) == 1
    assert superseded[0] != live
    stray = ledger.get_approval(superseded[0])
    assert (stray.status, stray.approver) == (ApprovalStatus.DENIED, SUPERSEDING_APPROVER)
    assert "superseded" in (stray.comment or "")
    with pytest.raises(ConflictError):  # 409: no call waits for it
        coordinator.decide_approval(stray.approval_id, approve=True, principal=FINANCE)
    # AND deciding the live approval runs the refund and the task completes
    driver.push(coordinator.decide_approval(live, approve=True, principal=FINANCE))
    _run_redelivering(driver, TransportError)
    assert coordinator.task(task_id).state is TaskState.COMPLETED
    assert [r.tool for r in driver.executor.executed].count("createRefund") == 1


def test_a_copy_that_loses_the_checkpoint_race_denies_its_approvals(
    coordinator: Coordinator, ledger: MemoryLedger
) -> None:
    # GIVEN a refund task whose approval step is about to run
    driver = Driver(coordinator, FakeExecutor(ledger))
    started = coordinator.start_task({"request": REFUND})
    task_id = started.task.task_id
    driver.steps.append(started.step)
    save = ledger.save_checkpoint
    copies: list[AgentStep] = []

    def race(task_id_: str, step: int, data: Any) -> bool:
        # While this copy decides, a concurrent copy of the same step runs and saves first.
        if step == 3 and not copies:
            copies.append(AgentStep(task_id=task_id, step=3, traceparent=started.step.traceparent))
            driver.push(coordinator.run_step(copies[0]))
        return save(task_id_, step, data)

    ledger.save_checkpoint = race  # type: ignore[method-assign]

    # WHEN both copies of step 3 ran
    driver.run()

    # THEN one approval waits (the winner's), the loser's is denied, and the task waits for it alone
    [live] = _approval_call_ids(coordinator, task_id)
    assert [a.approval_id for a in ledger.pending_approvals(task_id)] == [live]
    assert len([e for e in ledger.audit(task_id) if e.kind == "approval_superseded"]) == 1
    assert coordinator.task(task_id).state is TaskState.AWAITING_APPROVAL
    assert ledger.budget_state(task_id).reserved.tool_calls == 0
    driver.push(coordinator.decide_approval(live, approve=True, principal=FINANCE))
    driver.run()
    assert coordinator.task(task_id).state is TaskState.COMPLETED


def test_a_redelivered_step_notifies_the_approvals_its_first_attempt_did_not(
    coordinator: Coordinator, ledger: MemoryLedger, notifier: RecordingNotifier
) -> None:
    # GIVEN the move to awaiting_approval fails once, after the step's checkpoint, before its notice
    transition = ledger.transition
    state = {"failed": False}

    def flaky(task_id: str, to: Any, **kwargs: Any) -> Any:
        if str(getattr(to, "value", to)) == "awaiting_approval" and not state["failed"]:
            state["failed"] = True
            raise LedgerUnavailableError("throttled")
        return transition(task_id, to, **kwargs)

    ledger.transition = flaky  # type: ignore[method-assign]
    driver = Driver(coordinator, FakeExecutor(ledger))
    started = coordinator.start_task({"request": REFUND})
    driver.steps.append(started.step)

    # WHEN the step is redelivered
    assert _run_redelivering(driver, LedgerUnavailableError) == [3]

    # THEN the approval was notified once, and a further redelivery does not notify again
    task_id = started.task.task_id
    [live] = _approval_call_ids(coordinator, task_id)
    assert [n.approval_id for n in notifier.notices] == [live]
    assert coordinator.task(task_id).state is TaskState.AWAITING_APPROVAL
    coordinator.run_step(AgentStep(task_id=task_id, step=3, traceparent=started.step.traceparent))
    assert len(notifier.notices) == 1
    notifications = [e for e in ledger.audit(task_id) if e.kind == "approval_notification"]
    assert [e.data["approval_id"] for e in notifications] == [live]
