"""Copies of one tool call racing through recovery: one executes, the others stay queued or are replays.

Two deliveries of a crashed request (an SQS duplicate, or two messages carrying one reservation) may
both find the first attempt dead. Only one wins the reservation's recovery claim and executes; the
other must not publish ``denied: replay`` while the winner runs, since the coordinator keeps the first
answer per request. A reservation pays for one call, so a copy sent under a new message id never runs
it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcage.envelopes import ToolResult, dump_envelope
from agentcage.ledger import ClaimScope
from functions.aws import tool_executor
from functions.aws.executor import (
    LEASE_MARGIN_SECONDS,
    RECOVERED_EVENT,
    ServiceRequest,
    ServiceResponse,
    result_message_id,
)
from functions.aws.manifest import lambda_spec
from tests.functional.aws.executor.executor_support import (
    ExecutorWorld,
    batch,
    body_of,
    record_for,
    with_body,
)
from tests.functional.aws.executor.recovery_support import (
    assert_denied,
    crash,
    deliver,
    events,
    refund_items,
)

RETURNS = "sqs_tool_requests_returns"
LEASE = lambda_spec("tool-executor").timeout_seconds + LEASE_MARGIN_SECONDS


def _sqs_copy(record: dict[str, Any], sqs_message_id: str) -> dict[str, Any]:
    """The same request in another SQS message (a duplicate delivery, or the request sent twice)."""
    return {**record, "messageId": sqs_message_id, "receiptHandle": f"rh-{sqs_message_id}"}


def _resent(record: dict[str, Any], message_id: str) -> dict[str, Any]:
    """The request resent under a fresh message id, with the same reservation."""
    return _sqs_copy(with_body(record, body_of(record) | {"message_id": message_id}), f"sqs-{message_id}")


class InterleavingTransport:
    """Runs ``during`` once, from inside the first call of ``operation``, then makes the call."""

    def __init__(self, world: ExecutorWorld, operation: str, during: Callable[[], Any]) -> None:
        self.inner = world.transport
        self.operation = operation
        self.during = during
        self.outcomes: list[Any] = []

    def send(self, request: ServiceRequest) -> ServiceResponse:
        if request.operation == self.operation and not self.outcomes:
            self.outcomes.append(self.during())
        return self.inner.send(request)


def _batch_response(world: ExecutorWorld, record: dict[str, Any]) -> dict[str, Any]:
    return dict(tool_executor.process_batch(batch(record), tool_executor=world.executor))


def _published(world: ExecutorWorld) -> list[ToolResult]:
    return [delivered.result for delivered in world.results()]


def test_a_copy_arriving_while_the_recovery_runs_stays_queued_and_the_refund_is_answered_ok(
    world: ExecutorWorld,
) -> None:
    # GIVEN an approved refund whose first attempt died after consuming its reservation
    record = world.prepare(record_for(RETURNS, "createRefund"))
    items_before = refund_items(world)
    crash(world, record, "createRefund", after_call=False)
    world.clock.advance(180)  # both copies come back after the visibility timeout, past the lease
    copy_b = _sqs_copy(record, "6f1b3c1e-0000-4000-8000-00000000000b")

    # WHEN copy A recovers it, and copy B is delivered from inside A's createRefund call
    healthy = world.executor.gate.transport
    interleaving = InterleavingTransport(world, "createRefund", lambda: _batch_response(world, copy_b))
    world.executor.gate.transport = interleaving
    try:
        response_a = _batch_response(world, record)
    finally:
        world.executor.gate.transport = healthy

    # THEN B was left on the queue (it published nothing: no "denied: replay" can beat A's answer) ...
    assert interleaving.outcomes == [{"batchItemFailures": [{"itemIdentifier": copy_b["messageId"]}]}]
    assert response_a == {"batchItemFailures": []}
    # ... A's ok result is the only one published, and the refund was issued once
    [answer] = _published(world)
    assert answer.status == "ok", answer.error
    assert answer.message_id == result_message_id(
        body_of(record)["message_id"], body_of(record)["reservation_id"]
    )
    assert world.transport.count("createRefund") == 1
    assert refund_items(world) == items_before + 1
    assert len(events(world, record, RECOVERED_EVENT)) == 1
    assert events(world, record, "tool_denied") == []

    # AND when B comes back, it is sent A's stored result, byte for byte; nothing runs again
    again = deliver(world, copy_b)
    assert dump_envelope(again) == dump_envelope(answer)
    assert world.transport.count("createRefund") == 1


def test_a_copy_that_spends_the_approval_first_wins_and_the_other_stays_queued(
    world: ExecutorWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a refund whose first attempt died after consuming the reservation, before spending the approval
    record = world.prepare(record_for(RETURNS, "createRefund"))
    world.ledger.consume(body_of(record)["reservation_id"])
    world.clock.advance(LEASE)
    copy_b = _sqs_copy(record, "6f1b3c1e-0000-4000-8000-00000000000b")
    gate = world.executor.gate
    spend = gate.spend_approval
    raced: list[dict[str, Any]] = []
    entered: list[bool] = []

    def b_runs_first(*args: Any, **kwargs: Any) -> None:
        if not entered:  # A found the approval unspent; B recovers the call before A spends it
            entered.append(True)
            raced.append(_batch_response(world, copy_b))
        spend(*args, **kwargs)

    monkeypatch.setattr(gate, "spend_approval", b_runs_first)

    # WHEN copy A goes on after B answered
    response_a = _batch_response(world, record)

    # THEN B executed and answered ok; A, finding the approval spent and B's claim young, stays queued
    assert raced == [{"batchItemFailures": []}]
    assert response_a == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    [answer] = _published(world)
    assert answer.status == "ok", answer.error
    assert world.transport.count("createRefund") == 1
    assert events(world, record, "tool_denied") == []


def test_a_claim_older_than_the_lease_is_a_recovery_that_died_and_is_answered_replay(
    world: ExecutorWorld,
) -> None:
    # GIVEN a read whose first attempt died, and a recovery claimed by a delivery that died before the call
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    crash(world, record, "getCustomer", after_call=False)
    world.clock.advance(LEASE)
    task_id, reservation_id = body_of(record)["task_id"], body_of(record)["reservation_id"]
    assert world.ledger.claim(
        task_id, ClaimScope.RECOVERY, reservation_id, claimant=body_of(record)["message_id"]
    ).won

    # WHEN a copy arrives within the lease of that claim, it stays queued ...
    world.clock.advance(LEASE - 1)
    assert _batch_response(world, record) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert _published(world) == []

    # ... and past it, the claim's holder is certainly dead: replay, with nothing executed
    world.clock.advance(1)
    result = deliver(world, record)
    assert_denied(result, "replay")
    assert result.error is not None
    assert "already recovered" in result.error.message
    assert world.transport.count("getCustomer") == 0  # the first attempt died before its call


def test_a_copy_resent_with_a_new_message_id_after_its_answer_executes_nothing(world: ExecutorWorld) -> None:
    # GIVEN getCustomer answered normally
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    first = deliver(world, record)
    assert first.status == "ok"

    # WHEN a copy with a fresh message id and the same reservation arrives 46 s later (past the lease)
    world.clock.advance(46)
    copy = _resent(record, "msg-task-returns-0001-copy")
    result = deliver(world, copy)

    # THEN it executes nothing and is answered replay, under its own id, naming the request answered
    assert_denied(result, "replay")
    assert result.request_id == "msg-task-returns-0001-copy"
    assert result.message_id == result_message_id(
        "msg-task-returns-0001-copy", body_of(record)["reservation_id"]
    )
    assert result.error is not None
    assert body_of(record)["message_id"] in result.error.message
    assert world.transport.count("getCustomer") == 1
    assert events(world, record, RECOVERED_EVENT) == []
    [denied] = events(world, record, "tool_denied")
    assert denied["details"]["recovery"] == "answered_under_another_request"
    assert denied["details"]["answered_status"] == "ok"


def test_a_late_copy_with_a_new_message_id_is_a_replay_not_an_expired_call(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    deliver(world, record)
    world.clock.advance(301)  # past the request's expiry

    result = deliver(world, _resent(record, "msg-task-returns-0001-late"))

    assert_denied(result, "replay")
    assert world.transport.count("getCustomer") == 1


def test_copies_under_two_message_ids_recover_one_reservation_once(world: ExecutorWorld) -> None:
    # GIVEN a read whose first attempt died after its call
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    crash(world, record, "getCustomer", after_call=True)
    world.clock.advance(LEASE)

    # WHEN a copy under a new message id recovers it, and then the original is delivered again
    copy = _resent(record, "msg-task-returns-0001-copy")
    recovered = deliver(world, copy)
    original = deliver(world, record)

    # THEN the reservation ran once more in all (one recovery): the copy answered ok, the original replay
    assert recovered.status == "ok"
    assert_denied(original, "replay")
    assert world.transport.count("getCustomer") == 2
    assert len(events(world, record, RECOVERED_EVENT)) == 1
    [claim] = world.ledger.claims(body_of(record)["task_id"], ClaimScope.RECOVERY)
    assert claim.key == body_of(record)["reservation_id"]
