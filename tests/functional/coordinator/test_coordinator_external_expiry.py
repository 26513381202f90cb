"""Approvals of an external (MCP) task expire whichever of its calls they belong to.

An external task's calls are steps of their own, side by side: an older call may wait for a person as
long as the newest. The expiry timer expires every overdue approval of it, not only its latest call's;
and a client that asks after an overdue call before the timer ran sees it expired, not waiting.
"""

from __future__ import annotations

from typing import Any

from agentcage.coordinator import Coordinator
from agentcage.coordinator.external import ExternalCall
from agentcage.ledger import Ledger
from agentcage.ledger.models import ApprovalStatus, TaskRecord, TaskState
from agentcage.trace import continue_or_start
from tests.functional.coordinator.coordinator_support import REQUESTER, FakeClock, make_coordinator

TTL = 3600  # CoordinatorSettings.approval_ttl_seconds
REFUND = {
    "customer_id": "C-1001",
    "order_id": "O-50001",
    "amount_cents": 5000,
    "currency": "USD",
    "reason": "espresso machine arrived dented; goodwill refund",
}


def _open(coordinator: Coordinator) -> TaskRecord:
    return coordinator.external.open_task(
        "mcp-expiry-1",
        agent_id="returns-coordinator",
        requester=REQUESTER,
        request="MCP calls",
        traceparent=None,
    )


def _propose(coordinator: Coordinator, arguments: dict[str, Any]) -> ExternalCall:
    task = coordinator.ledger.get_task("mcp-expiry-1")
    outcome, outbox = coordinator.external.propose(
        task, "createRefund", arguments, trace=continue_or_start(None), client={"name": "test"}
    )
    assert not outbox  # an approval sends nothing
    return outcome


def _expired_result(coordinator: Coordinator, outcome: ExternalCall) -> dict[str, Any]:
    assert outcome.call is not None
    return dict(coordinator.external.where(outcome.task.task_id, outcome.call.request_id).result or {})


def test_the_timer_expires_every_overdue_approval_of_an_external_task(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an MCP task with two refunds waiting for a person: an older call and the latest one
    coordinator = make_coordinator(ledger)
    _open(coordinator)
    older = _propose(coordinator, REFUND)
    latest = _propose(coordinator, {**REFUND, "amount_cents": 4000})
    assert older.status == latest.status == "approval_required"
    assert ledger.get_task("mcp-expiry-1").state is TaskState.AWAITING_APPROVAL
    # WHEN nobody decides before they expire and the expiry timer runs
    outbox = coordinator.expire_overdue_approvals(clock.advance(TTL + 1))
    # THEN both approvals are expired, not only the latest call's
    for outcome in (older, latest):
        assert outcome.call is not None
        assert outcome.call.approval_id is not None
        assert ledger.get_approval(outcome.call.approval_id).status is ApprovalStatus.EXPIRED
        # AND each call's result says so, for the client's next ask
        result = _expired_result(coordinator, outcome)
        assert result["content"]["error"]["code"] == "approval_expired"
    # AND the task waits for nobody any more, and nothing is sent (the client proposes the next call)
    assert ledger.get_task("mcp-expiry-1").state is TaskState.RUNNING
    assert not outbox
    # AND a second run finds nothing more to do
    assert not coordinator.expire_overdue_approvals(clock.advance(60))


def test_an_older_overdue_approval_expires_while_a_newer_one_is_not_due(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an older refund waiting, and a newer one asked for half a TTL later
    coordinator = make_coordinator(ledger)
    _open(coordinator)
    older = _propose(coordinator, REFUND)
    clock.advance(TTL / 2)
    newer = _propose(coordinator, {**REFUND, "amount_cents": 4000})
    # WHEN the timer runs after the older one's expiry but before the newer one's
    coordinator.expire_overdue_approvals(clock.advance(TTL / 2 + 1))
    # THEN the older one expired and the newer one still waits, and so does the task
    assert older.call is not None
    assert newer.call is not None
    assert ledger.get_approval(str(older.call.approval_id)).status is ApprovalStatus.EXPIRED
    assert ledger.get_approval(str(newer.call.approval_id)).status is ApprovalStatus.PENDING
    assert ledger.get_task("mcp-expiry-1").state is TaskState.AWAITING_APPROVAL


def test_a_client_asking_after_an_overdue_call_before_the_timer_gets_a_new_approval(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a refund waiting for a person, and its expiry passed before the timer ran
    coordinator = make_coordinator(ledger)
    _open(coordinator)
    first = _propose(coordinator, REFUND)
    assert first.call is not None
    clock.advance(TTL + 1)
    # WHEN the client calls it again with the same arguments
    again = _propose(coordinator, REFUND)
    # THEN the old approval is expired (its call's result says so) and the call asks a person anew
    assert ledger.get_approval(str(first.call.approval_id)).status is ApprovalStatus.EXPIRED
    assert _expired_result(coordinator, first)["content"]["error"]["code"] == "approval_expired"
    assert again.status == "approval_required"
    assert again.call is not None
    assert again.call.approval_id != first.call.approval_id
    assert ledger.get_approval(str(again.call.approval_id)).status is ApprovalStatus.PENDING
