"""Only a delegation the parent checkpointed can answer the parent's call.

A child reports its answer into its parent's ``delegate`` call. Before, the link was whatever context
the caller of ``POST /api/tasks`` sent, so any caller could write a forged ``ok`` result into another
task's pending call (a refund "issued" that never ran) or take the task's ``advance-<n>`` claim slot
and freeze it. Now the keys are refused at the door, and a report is recorded only into a call of the
parent's checkpointed turn that delegated to exactly that child.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.coordinator import Coordinator, StartTask
from agentcage.errors import InvalidInputError
from agentcage.ledger import MemoryLedger, TaskState
from tests.functional.coordinator.coordinator_support import (
    FINANCE,
    Driver,
    FakeClock,
    FakeExecutor,
    budget_config,
    make_coordinator,
)

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger(breaker=budget_config().breaker, clock=FakeClock())


@pytest.fixture
def coordinator(ledger: MemoryLedger) -> Coordinator:
    return make_coordinator(ledger)


@pytest.fixture
def driver(coordinator: Coordinator, ledger: MemoryLedger) -> Driver:
    return Driver(coordinator, FakeExecutor(ledger))


def _pending_refund(coordinator: Coordinator, driver: Driver) -> tuple[str, str, str]:
    """A refund task waiting for its approval: (task id, the refund call's request id, approval id)."""
    victim = driver.start(REFUND)
    assert coordinator.task(victim).state is TaskState.AWAITING_APPROVAL
    _, checkpoint = coordinator._checkpoint(victim)
    assert checkpoint.last is not None
    call = next(c for c in checkpoint.last.calls if c.approval_id)
    return victim, call.request_id, str(call.approval_id)


def _run_forged_child(
    coordinator: Coordinator, ledger: MemoryLedger, driver: Driver, context: dict[str, Any]
) -> str:
    """A task stored with a parent link no delegation made (as if the door had let it through)."""
    child = ledger.create_task(
        agent_id="returns-coordinator",
        environment="dev",
        request="hello",
        limits=coordinator.task(str(context["parent_task_id"])).limits,
        context=context,
    )
    driver.steps.append(coordinator.agent_step(child, 1))
    driver.run()
    assert coordinator.task(child.task_id).state is TaskState.COMPLETED
    return child.task_id


@pytest.mark.parametrize("key", ["parent_task_id", "parent_request_id", "parent_anything"])
def test_a_caller_cannot_set_a_reserved_parent_key_in_the_task_context(
    coordinator: Coordinator, driver: Driver, key: str
) -> None:
    victim, request_id, _ = _pending_refund(coordinator, driver)
    value = victim if key == "parent_task_id" else request_id

    with pytest.raises(InvalidInputError) as caught:
        coordinator.start_task({"request": "Look up customer C-1001", "context": {key: value}})

    assert caught.value.status == 400
    assert "reserved" in caught.value.details["problems"][0]["msg"]
    with pytest.raises(ValueError, match="reserved"):
        StartTask.model_validate({"request": "x", "context": {key: "v"}})
    # other context keys are still the caller's
    assert coordinator.start_task({"request": "x", "context": {"scenario": "janitor"}}).task.context


def test_a_forged_child_cannot_answer_another_tasks_pending_call(
    coordinator: Coordinator, ledger: MemoryLedger, driver: Driver
) -> None:
    # GIVEN a refund waiting for its approval, and a task that claims to answer the refund call
    victim, request_id, approval_id = _pending_refund(coordinator, driver)

    # WHEN that task ends
    _run_forged_child(
        coordinator, ledger, driver, {"parent_task_id": victim, "parent_request_id": request_id}
    )

    # THEN the refund call has no result, and approving it runs the real refund
    assert request_id not in coordinator._results(victim)
    assert "delegate_result" not in [e.kind for e in ledger.audit(victim)]
    driver.push(coordinator.decide_approval(approval_id, approve=True, principal=FINANCE))
    driver.run()
    assert coordinator.task(victim).state is TaskState.COMPLETED
    assert [r.tool for r in driver.executor.executed].count("createRefund") == 1


def test_a_forged_child_cannot_take_a_tasks_advance_claim(
    coordinator: Coordinator, ledger: MemoryLedger, driver: Driver
) -> None:
    # GIVEN a task whose first step was checkpointed, and a task pointing at its advance slot
    started = coordinator.start_task({"request": REFUND})
    victim = started.task.task_id
    driver.push(coordinator.run_step(started.step))  # step 1 checkpointed, its reads queued
    _run_forged_child(
        coordinator, ledger, driver, {"parent_task_id": victim, "parent_request_id": "advance-1"}
    )

    # WHEN the victim's reads come back
    driver.run()

    # THEN it advanced past step 1 as usual and reached its approval
    assert "advance-1" not in {r.request_id for r in ledger.tool_results(victim) if r.result.get("status")}
    assert coordinator.task(victim).state is TaskState.AWAITING_APPROVAL
    assert coordinator._checkpoint(victim)[0] > 1
