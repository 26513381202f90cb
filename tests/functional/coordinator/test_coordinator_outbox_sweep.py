"""The timer's outbox sweep carries out an approved call whose send was lost, on every ledger.

A ``ToolRequest`` lives as long as its reservation (five minutes by default) and the timer runs every
five minutes, so the sweep re-sends an unanswered request while it is still valid, and once it expired
unconsumed (the call certainly never ran) dispatches the approval again under a fresh reservation. It
sweeps every task that has not ended: an MCP task's approved call and a call approved while another of
the same task still waits for a person are swept too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.coordinator import Coordinator, request_message_id
from agentcage.envelopes import ToolRequest
from agentcage.ledger import ClaimScope, Ledger, TaskState
from agentcage.ledger.models import ReservationStatus
from agentcage.trace import continue_or_start
from tests.functional.coordinator.coordinator_support import (
    APPROVER,
    REQUESTER,
    Driver,
    FakeClock,
    FakeExecutor,
    make_coordinator,
    open_test_ledger,
)

REFUND_REQUEST = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"
TIMER = 300.0  # the Function App's approval_expiry timer runs every five minutes
REFUND_ARGS = {
    "customer_id": "C-1001",
    "order_id": "O-50001",
    "amount_cents": 5000,
    "currency": "USD",
    "reason": "espresso machine arrived dented; goodwill refund",
}


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def ledger(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Ledger]:
    with open_test_ledger(request.param, clock, tmp_path) as opened:
        yield opened


def _approved_but_lost(ledger: Ledger) -> tuple[Coordinator, Driver, str, ToolRequest]:
    """A refund approved by a person, whose ToolRequest the host never sent (the POST's process died)."""
    coordinator = make_coordinator(ledger)
    driver = Driver(coordinator, FakeExecutor(ledger))
    task_id = driver.start(REFUND_REQUEST)
    [approval] = ledger.pending_approvals(task_id)
    decided = coordinator.decide_approval(approval.approval_id, approve=True, principal=APPROVER)
    [lost] = decided.tool_requests
    return coordinator, driver, task_id, lost


def _refunds(driver: Driver) -> list[ToolRequest]:
    return [r for r in driver.executor.executed if r.approval_id]


def _sweep_until_sent(coordinator: Coordinator, clock: FakeClock, rounds: int = 3) -> list[ToolRequest]:
    """Run the timer with its defaults every five minutes until it sends a request."""
    for _ in range(rounds):
        clock.advance(TIMER)
        sent = coordinator.expire_overdue_approvals().tool_requests
        if sent:
            return sent
    return []


def test_the_default_sweep_resends_a_lost_request_while_it_is_still_valid(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an approved refund whose request was lost, and a timer run a little after the decision
    coordinator, driver, task_id, lost = _approved_but_lost(ledger)
    clock.advance(0.4 * (lost.expires_at - lost.issued_at).total_seconds())

    # WHEN the timer runs with its defaults
    [resent] = coordinator.expire_overdue_approvals().tool_requests

    # THEN it sends the very same request, still valid, and the refund is made once
    assert resent == lost
    assert not resent.is_expired(ledger.now())
    driver.requests.append(resent)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    assert len(_refunds(driver)) == 1


def test_a_lost_request_that_expired_unconsumed_is_dispatched_again_under_a_fresh_reservation(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an approved refund whose request was lost, and the timer first running after it expired
    coordinator, driver, task_id, lost = _approved_but_lost(ledger)
    clock.advance((lost.expires_at - lost.issued_at).total_seconds() + 1)

    # WHEN the timer runs with its defaults
    [fresh] = coordinator.expire_overdue_approvals().tool_requests

    # THEN it sends a fresh, valid request for the same call and approval, and the old reservation
    # can never be consumed (released, so the lost request cannot run late)
    assert not fresh.is_expired(ledger.now())
    assert (fresh.message_id, fresh.approval_id) == (lost.message_id, lost.approval_id)
    assert fresh.reservation_id != lost.reservation_id
    assert ledger.get_reservation(lost.reservation_id).status is ReservationStatus.RELEASED
    assert lost.approval_id is not None
    claim = ledger.get_claim(task_id, ClaimScope.APPROVED_REQUEST, lost.approval_id)
    assert claim is not None
    assert ToolRequest.model_validate(claim.payload["request"]) == fresh

    # AND a sweep before the fresh one is answered sends nothing more (the lost entry is done with)
    clock.advance(1)
    assert not coordinator.expire_overdue_approvals().tool_requests

    # AND the fresh request is carried out once, and its result completes the task
    driver.requests.append(fresh)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    assert [r.reservation_id for r in _refunds(driver)] == [fresh.reservation_id]
    assert "tool_request_redispatched" in [e.kind for e in ledger.audit(task_id)]
    # AND the lost request's outbox entry is done with; only the fresh one's remains until answered
    waiting = [
        e.message_id for e in ledger.undelivered(task_id=task_id) if e.destination == TOOL_REQUESTS_QUEUE
    ]
    assert waiting == [request_message_id(fresh)]


def test_a_lost_request_that_was_consumed_is_not_dispatched_again(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN an approved refund whose request the executor consumed (it runs, or died running it)
    coordinator, driver, _, lost = _approved_but_lost(ledger)
    ledger.consume(lost.reservation_id)

    # WHEN the timer runs after it expired, THEN no second call is dispatched
    clock.advance((lost.expires_at - lost.issued_at).total_seconds() + 1)
    assert not coordinator.expire_overdue_approvals().tool_requests
    assert _refunds(driver) == []


def test_a_lost_request_whose_approval_expired_meanwhile_answers_the_call_as_failed(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an approved refund whose request was lost, and a timer that did not run until its
    # approval's own expiry passed (the host was down)
    coordinator, driver, task_id, lost = _approved_but_lost(ledger)
    assert lost.approval_id is not None
    approval = ledger.get_approval(lost.approval_id)
    clock.advance((approval.expires_at - ledger.now()).total_seconds() + 1)

    # WHEN the timer runs, THEN the call is answered as failed with a readable reason, not left pending
    driver.push(coordinator.expire_overdue_approvals())
    result = coordinator._results(task_id)[lost.message_id]
    assert result["content"]["error"]["code"] == "request_lost"
    assert "ask again" in result["content"]["error"]["message"]
    # AND the task moves on without the refund (here it is past its deadline too: it ends)
    driver.run()
    assert ledger.get_task(task_id).state.is_final
    assert _refunds(driver) == []


# --- tasks the sweep used to skip --------------------------------------------------------------------
def _mcp_refund(coordinator: Coordinator, amount_cents: int) -> str:
    task = coordinator.ledger.get_task("mcp-sweep-1")
    args = {**REFUND_ARGS, "amount_cents": amount_cents}
    outcome, outbox = coordinator.external.propose(
        task, "createRefund", args, trace=continue_or_start(None), client={"name": "test"}
    )
    assert outcome.status == "approval_required"
    assert not outbox
    assert outcome.call is not None
    assert outcome.call.approval_id is not None
    return outcome.call.approval_id


@pytest.mark.parametrize("expired", [False, True], ids=["valid", "expired"])
def test_an_mcp_call_approved_while_another_waits_is_swept(
    ledger: Ledger, clock: FakeClock, expired: bool
) -> None:
    # GIVEN an MCP task with two refunds waiting for a person; one is approved, its request lost,
    # while the other still waits (the task stays awaiting approval)
    coordinator = make_coordinator(ledger)
    executor = FakeExecutor(ledger)
    coordinator.external.open_task(
        "mcp-sweep-1", agent_id="returns-coordinator", requester=REQUESTER, request="MCP", traceparent=None
    )
    approved = _mcp_refund(coordinator, 5000)
    _mcp_refund(coordinator, 4000)
    [lost] = coordinator.decide_approval(approved, approve=True, principal=APPROVER).tool_requests
    assert ledger.get_task("mcp-sweep-1").state is TaskState.AWAITING_APPROVAL

    # WHEN the timer runs (before or after the request expired)
    lifetime = (lost.expires_at - lost.issued_at).total_seconds()
    clock.advance(lifetime + 1 if expired else 0.4 * lifetime)
    [sent] = coordinator.expire_overdue_approvals().tool_requests

    # THEN the approved call is sent, valid, and carried out once; its result is accepted
    assert sent.approval_id == approved
    assert not sent.is_expired(ledger.now())
    assert (sent == lost) is not expired
    result = executor.execute(sent)
    assert result is not None
    coordinator.record_result(result)
    assert coordinator._results("mcp-sweep-1")[lost.message_id]["status"] == "ok"
    assert len([r for r in executor.executed if r.approval_id]) == 1


def test_a_step_call_approved_while_another_of_its_step_waits_is_swept(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a task awaiting approval whose approved call's request was lost: as when a step proposed two
    # calls needing a person, one was decided and sent (lost), and the other still waits
    coordinator, _, task_id, lost = _approved_but_lost(ledger)
    assert coordinator._move(task_id, TaskState.AWAITING_APPROVAL, expected=TaskState.RUNNING)

    # WHEN the timer runs, THEN the lost request is sent
    clock.advance(0.4 * (lost.expires_at - lost.issued_at).total_seconds())
    assert coordinator.expire_overdue_approvals().tool_requests == [lost]


def test_a_repeated_approval_after_its_request_expired_unsent_sends_a_fresh_request(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an approved refund whose request was lost, and the approver repeating the POST after it
    # expired (before any timer ran)
    coordinator, driver, task_id, lost = _approved_but_lost(ledger)
    assert lost.approval_id is not None
    clock.advance((lost.expires_at - lost.issued_at).total_seconds() + 1)

    # WHEN the same decision is repeated, THEN it sends a fresh, valid request, not the expired one
    [fresh] = coordinator.decide_approval(lost.approval_id, approve=True, principal=APPROVER).tool_requests
    assert fresh.reservation_id != lost.reservation_id
    assert not fresh.is_expired(ledger.now())
    assert coordinator.approval_not_sent(lost.approval_id) is None
    driver.requests.append(fresh)
    driver.run()
    assert ledger.get_task(task_id).state is TaskState.COMPLETED
    assert len(_refunds(driver)) == 1
