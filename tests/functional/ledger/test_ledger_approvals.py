"""Conformance: approvals are decided once and used once; results are idempotent; audit is ordered."""

from __future__ import annotations

import pytest

from agentcage.errors import (
    ApprovalAlreadyDecidedError,
    ApprovalExpiredError,
    ApprovalInvalidError,
    ApprovalMismatchError,
    ApprovalNotFoundError,
    InvalidInputError,
    ReplayError,
    TaskNotFoundError,
)
from agentcage.ledger import ApprovalRecord, ApprovalStatus, Ledger
from tests.functional.ledger.ledger_support import FakeClock, new_task, run_threads

DIGEST = "3f" * 32


def _approval(ledger: Ledger, clock: FakeClock, ttl: float = 600) -> ApprovalRecord:
    task = new_task(ledger, clock)
    return ledger.create_approval(
        task.task_id,
        step=2,
        agent_id="returns-agent",
        tool="issueRefund",
        args={"order_id": "O-1001", "amount_cents": 4200},
        args_digest=DIGEST,
        reasons=["write action"],
        policies=["writes-need-approval"],
        ttl_seconds=ttl,
    )


def test_approved_approval_is_used_once_for_its_exact_arguments(ledger: Ledger, clock: FakeClock) -> None:
    approval = _approval(ledger, clock)
    assert ledger.get_approval(approval.approval_id) == approval

    decided = ledger.decide_approval(
        approval.approval_id, True, approver="maria@contoso", approver_roles=["lead"]
    )
    used = ledger.use_approval(approval.approval_id, DIGEST)

    assert decided.status is ApprovalStatus.APPROVED
    assert decided.approver == "maria@contoso"
    assert decided.approver_roles == ["lead"]
    assert decided.decided_at == clock()
    assert used.used_at == clock()
    with pytest.raises(ReplayError):
        ledger.use_approval(approval.approval_id, DIGEST)


def test_approval_is_decided_only_once(ledger: Ledger, clock: FakeClock) -> None:
    approval = _approval(ledger, clock)
    ledger.decide_approval(approval.approval_id, False, approver="maria@contoso", comment="not eligible")

    with pytest.raises(ApprovalAlreadyDecidedError):
        ledger.decide_approval(approval.approval_id, True, approver="someone-else")

    denied = ledger.get_approval(approval.approval_id)
    assert denied.status is ApprovalStatus.DENIED
    assert denied.comment == "not eligible"
    with pytest.raises(ApprovalInvalidError):
        ledger.use_approval(approval.approval_id, DIGEST)


def test_concurrent_approvers_record_exactly_one_decision(ledger: Ledger, clock: FakeClock) -> None:
    approval = _approval(ledger, clock)

    errors = run_threads(
        6, lambda i: ledger.decide_approval(approval.approval_id, i % 2 == 0, approver=f"approver-{i}")
    )

    assert len(errors) == 5
    assert all(isinstance(e, ApprovalAlreadyDecidedError) for e in errors)


def test_decision_after_expiry_is_refused_and_marks_it_expired(ledger: Ledger, clock: FakeClock) -> None:
    approval = _approval(ledger, clock, ttl=60)
    clock.advance(61)

    with pytest.raises(ApprovalExpiredError):
        ledger.decide_approval(approval.approval_id, True, approver="late@contoso")

    assert ledger.get_approval(approval.approval_id).status is ApprovalStatus.EXPIRED
    assert ledger.pending_approvals(approval.task_id) == []


def test_use_is_refused_for_other_arguments_pending_or_expired(ledger: Ledger, clock: FakeClock) -> None:
    approval = _approval(ledger, clock, ttl=60)
    with pytest.raises(ApprovalInvalidError):
        ledger.use_approval(approval.approval_id, DIGEST)  # still pending

    ledger.decide_approval(approval.approval_id, True, approver="maria@contoso")
    with pytest.raises(ApprovalMismatchError):
        ledger.use_approval(approval.approval_id, "00" * 32)

    clock.advance(60)
    with pytest.raises(ApprovalExpiredError):
        ledger.use_approval(approval.approval_id, DIGEST)


def test_pending_approvals_lists_only_those_waiting(ledger: Ledger, clock: FakeClock) -> None:
    first = _approval(ledger, clock)
    second = ledger.create_approval(
        first.task_id, step=3, agent_id="returns-agent", tool="issueRefund", args={}, args_digest=DIGEST
    )
    ledger.decide_approval(first.approval_id, True, approver="maria@contoso")

    assert [a.approval_id for a in ledger.pending_approvals(first.task_id)] == [second.approval_id]


def test_unknown_approval_is_not_found(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    with pytest.raises(ApprovalNotFoundError):
        ledger.get_approval(f"{task.task_id}.a0123456789abcdef0123")
    with pytest.raises(ApprovalNotFoundError):
        ledger.decide_approval("garbage", True, approver="x")


def test_tool_result_is_recorded_once_per_request(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)

    first = ledger.record_tool_result(task.task_id, "req-1", {"status": "ok", "value": 1})
    duplicate = ledger.record_tool_result(task.task_id, "req-1", {"status": "ok", "value": 2})
    clock.advance(1)
    ledger.record_tool_result(task.task_id, "req-0", {"status": "error"})

    assert (first, duplicate) == (True, False)
    results = ledger.tool_results(task.task_id)
    assert [(r.request_id, r.result) for r in results] == [
        ("req-1", {"status": "ok", "value": 1}),
        ("req-0", {"status": "error"}),
    ]


def test_audit_sequence_is_dense_and_ordered_under_concurrency(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a task (its creation -> running is audit event 1) and 8 writers appending 5 events each
    task = new_task(ledger, clock)

    def writer(index: int) -> None:
        for n in range(5):
            ledger.append_audit(
                task.task_id, "thought", {"writer": index, "n": n}, trace_id="0af7" * 8, step=n
            )

    errors = run_threads(8, writer)

    # THEN every event got its own number, 1..41 without gaps, and each writer's events keep their order
    assert errors == []
    events = ledger.audit(task.task_id)
    assert [e.seq for e in events] == list(range(1, 42))
    for index in range(8):
        assert [e.data["n"] for e in events if e.data.get("writer") == index] == list(range(5))


def test_audit_of_unknown_task_and_bad_event_are_refused(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    with pytest.raises(TaskNotFoundError):
        ledger.append_audit("task-missing", "thought", {})
    with pytest.raises(InvalidInputError):
        ledger.append_audit(task.task_id, "thought", {"not-json": object()})
    with pytest.raises(InvalidInputError):
        ledger.append_audit(task.task_id, "", {})
