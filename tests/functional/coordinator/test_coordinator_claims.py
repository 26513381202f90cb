"""The coordinator's once-only claims and their outbox, on every ledger (issue 12).

Advancing past a step and sending an approval's request are ledger claims whose message is written as
the claim's outbox entry: a crash between the claim and the send is recovered by the redelivery that
finds the claim (queues), or by the timer's sweep of undelivered entries (an HTTP decision nobody
repeats). Rows an older deployment wrote among the results (``advance-<n>``, ``approved-<id>``) are
still read as those claims, so a task pending across the deploy advances exactly once. What steers a
task (told a circuit is open, people told about an approval) is never read back from the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE
from agentcage.coordinator import Coordinator, StepCheckpoint, request_message_id, step_message_id
from agentcage.envelopes import AgentStep, ToolError, ToolRequest, ToolResult
from agentcage.ledger import ClaimScope, Ledger, TaskState
from tests.functional.coordinator.coordinator_support import (
    APPROVER,
    Driver,
    FakeClock,
    FakeExecutor,
    RecordingNotifier,
    make_coordinator,
    open_test_ledger,
)

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"
RESEND_AFTER = 60.0  # shorter than the reservations' lifetime and the task's deadline


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def ledger(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Ledger]:
    with open_test_ledger(request.param, clock, tmp_path) as opened:
        yield opened


def _waiting_refund(ledger: Ledger, **kwargs: Any) -> tuple[Coordinator, Driver, str, str]:
    coordinator = make_coordinator(ledger, **kwargs)
    driver = Driver(coordinator, FakeExecutor(ledger))
    task_id = driver.start(REFUND)
    [approval] = ledger.pending_approvals(task_id)
    return coordinator, driver, task_id, approval.approval_id


def _approved_and_answered(
    coordinator: Coordinator, driver: Driver, approval_id: str
) -> tuple[ToolRequest, ToolResult]:
    [request] = coordinator.decide_approval(approval_id, approve=True, principal=APPROVER).tool_requests
    result = driver.executor.execute(request)
    assert result is not None
    return request, result


def _undelivered(ledger: Ledger, task_id: str, destination: str) -> list[str]:
    return [e.message_id for e in ledger.undelivered(task_id=task_id) if e.destination == destination]


def test_a_result_redelivered_after_its_step_was_lost_emits_the_kept_step_once(ledger: Ledger) -> None:
    # GIVEN the refund's result completing the step, whose next step is claimed but never sent (crash)
    coordinator, driver, task_id, approval_id = _waiting_refund(ledger)
    request, result = _approved_and_answered(coordinator, driver, approval_id)
    [lost] = coordinator.record_result(result).agent_steps

    # THEN the claim names the result, and the step is its undelivered outbox entry
    claim = ledger.get_claim(task_id, ClaimScope.ADVANCE, str(request.step))
    assert claim is not None
    assert claim.claimant == result.message_id
    task = ledger.get_task(task_id)
    assert step_message_id(task, lost.step) in _undelivered(ledger, task_id, AGENT_STEPS_QUEUE)

    # WHEN the same result is redelivered, THEN it emits the very same step again
    assert coordinator.record_result(result).agent_steps == [lost]
    # AND anything else that completes the step (another claimant) emits nothing
    checkpoint = ledger.last_checkpoint(task_id)
    assert checkpoint is not None
    turn = StepCheckpoint.of(checkpoint.data).last
    assert not coordinator._maybe_advance(task_id, request.step, turn, claimant="approval-repeated")

    driver.steps.append(lost)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    assert [r.tool for r in driver.executor.executed].count(request.tool) == 1


def test_a_decision_whose_next_step_was_never_sent_is_sent_by_the_timer(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a denial that completed the step; the POST's process died before sending the next step
    coordinator, driver, task_id, approval_id = _waiting_refund(ledger)
    [lost] = coordinator.decide_approval(approval_id, approve=False, principal=APPROVER).agent_steps

    # WHEN the timer runs soon, THEN nothing is sent yet (the step may be merely slow)
    assert not coordinator.expire_overdue_approvals(resend_after_seconds=RESEND_AFTER)

    # WHEN the step stayed unrun past the resend delay, THEN the timer sends the kept step
    clock.advance(RESEND_AFTER + 1)
    resent = coordinator.expire_overdue_approvals(resend_after_seconds=RESEND_AFTER)
    assert resent.agent_steps == [lost]
    driver.push(resent)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    assert "step_resent" in [e.kind for e in ledger.audit(task_id)]


def test_an_approved_request_never_sent_is_sent_by_the_timer_and_marked_once_answered(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an approval whose request is claimed with its outbox entry, but never sent (crash)
    coordinator, driver, task_id, approval_id = _waiting_refund(ledger)
    [request] = coordinator.decide_approval(approval_id, approve=True, principal=APPROVER).tool_requests
    claim = ledger.get_claim(task_id, ClaimScope.APPROVED_REQUEST, approval_id)
    assert claim is not None
    assert ToolRequest.model_validate(claim.payload["request"]) == request
    assert _undelivered(ledger, task_id, TOOL_REQUESTS_QUEUE) == [request_message_id(request)]

    # WHEN the timer runs past the resend delay, THEN it sends the same request
    clock.advance(RESEND_AFTER + 1)
    resent = coordinator.expire_overdue_approvals(resend_after_seconds=RESEND_AFTER)
    assert resent.tool_requests == [request]

    # WHEN it ran and its result was recorded, THEN the next sweep marks the entry delivered
    driver.requests.extend(resent.tool_requests)
    result = driver.executor.execute(driver.requests.popleft())
    assert result is not None
    held = coordinator.record_result(result)
    assert coordinator.expire_overdue_approvals(resend_after_seconds=RESEND_AFTER).tool_requests == []
    assert _undelivered(ledger, task_id, TOOL_REQUESTS_QUEUE) == []
    driver.push(held)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    assert len([r for r in driver.executor.executed if r.approval_id]) == 1


# --- rows an older deployment wrote ----------------------------------------------------------------
def test_a_step_advanced_by_an_older_deployment_is_not_advanced_again(ledger: Ledger) -> None:
    # GIVEN a task pending across the deploy: the old coordinator recorded the step's last result and
    # its advance-<n> row, then died before sending the next step
    coordinator, driver, task_id, approval_id = _waiting_refund(ledger)
    request, result = _approved_and_answered(coordinator, driver, approval_id)
    slot = {"status": result.status, "content": result.result, "tool": result.tool, "source": "executor"}
    assert ledger.record_tool_result(task_id, result.request_id, {**slot, "message_id": result.message_id})
    legacy = {"claimant": result.message_id, "next_step": request.step + 1}
    assert ledger.record_tool_result(task_id, f"advance-{request.step}", legacy)

    # WHEN another claimant completes the step, THEN nothing is emitted and nothing is claimed
    checkpoint = ledger.last_checkpoint(task_id)
    assert checkpoint is not None
    turn = StepCheckpoint.of(checkpoint.data).last
    assert not coordinator._maybe_advance(task_id, request.step, turn, claimant="approval-repeated")
    assert ledger.get_claim(task_id, ClaimScope.ADVANCE, str(request.step)) is None

    # WHEN the old claimant's message is redelivered, THEN it emits the next step, once
    [step] = coordinator.record_result(result).agent_steps
    assert step.step == request.step + 1
    driver.steps.append(step)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    assert ledger.get_claim(task_id, ClaimScope.ADVANCE, str(request.step)) is None
    calls = [c["request_id"] for s in coordinator.task_view(task_id)["steps"] for c in s["calls"]]
    assert not [c for c in calls if c.startswith("advance-")]


def test_an_approval_sent_by_an_older_deployment_is_answered_and_advances_once(ledger: Ledger) -> None:
    # GIVEN an approval the old coordinator sent: its request kept in an approved-<id> row, no claim
    coordinator, driver, task_id, approval_id = _waiting_refund(ledger)
    [request] = coordinator.decide_approval(approval_id, approve=True, principal=APPROVER).tool_requests
    assert ledger.release_claim(
        task_id, ClaimScope.APPROVED_REQUEST, approval_id, claimant=request.reservation_id
    )
    row = {"claimant": approval_id, "request": request.model_dump(mode="json")}
    assert ledger.record_tool_result(task_id, f"approved-{approval_id}", row)
    assert ledger.get_claim(task_id, ClaimScope.APPROVED_REQUEST, approval_id) is None

    # WHEN the approver repeats the POST, THEN it re-sends that very request (no second reservation)
    again = coordinator.decide_approval(approval_id, approve=True, principal=APPROVER)
    assert again.tool_requests == [request]
    assert coordinator.approval_not_sent(approval_id) is None

    # AND its result is accepted (the row says the call was dispatched) and the task advances once
    driver.push(again)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    assert len([r for r in driver.executor.executed if r.approval_id]) == 1
    kinds = [e.kind for e in ledger.audit(task_id)]
    assert "result_unverified" not in kinds
    assert kinds.count("step_advanced") == len(coordinator.task_view(task_id)["steps"]) - 1


# --- state is never read back from the audit log ----------------------------------------------------
def _no_audit_reads(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(task_id: str) -> Any:
        raise AssertionError(f"the coordinator read the audit log of {task_id} to decide")

    monkeypatch.setattr(ledger, "audit", refuse)


def test_a_redelivered_step_notifies_from_the_claims_not_the_audit_log(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a refund waiting for a person, who was notified once
    notifier = RecordingNotifier()
    coordinator, _, task_id, approval_id = _waiting_refund(ledger, notifier=notifier)
    assert [n.approval_id for n in notifier.notices] == [approval_id]
    assert ledger.get_claim(task_id, ClaimScope.NOTIFIED, approval_id) is not None

    # WHEN its step is redelivered (the audit log unreadable), THEN nobody is notified again
    _no_audit_reads(ledger, monkeypatch)
    checkpoint = ledger.last_checkpoint(task_id)
    assert checkpoint is not None
    traceparent = ledger.get_task(task_id).traceparent
    coordinator.run_step(AgentStep(task_id=task_id, step=checkpoint.step, traceparent=traceparent))
    assert len(notifier.notices) == 1


def _vendor_down(tool: str, args: dict[str, Any]) -> tuple[str, Any, ToolError | None]:
    return "error", None, ToolError(code="upstream_unavailable", message=f"{tool} answered 503")


def test_a_task_told_once_of_an_open_circuit_halts_when_it_asks_again_without_the_audit_log(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a vendor whose circuit a first task opened
    coordinator = make_coordinator(ledger)
    executor = FakeExecutor(ledger, answer=_vendor_down)
    vendor = {"agent": "procurement-agent", "context": {"scenario": "runaway_vendor"}}
    Driver(coordinator, executor).start("Ask vendor V-1042 for terms on 500 x WIDGET-9.", **vendor)
    executed = len(executor.executed)

    # WHEN a second task keeps asking for it (the audit log unreadable)
    _no_audit_reads(ledger, monkeypatch)
    second = Driver(coordinator, executor).start("Ask vendor V-1042 for terms on 500 x WIDGET-9.", **vendor)

    # THEN it was told once (a claim), and asking again halted it, without reaching the vendor
    told = ledger.claims(second, ClaimScope.CIRCUIT_REFUSAL)
    assert [c.key for c in told] == ["negotiateVendorTerms"]
    task = ledger.get_task(second)
    assert task.state is TaskState.HALTED
    assert "circuit_open" in (task.halt_reason or "")
    assert len(executor.executed) == executed
