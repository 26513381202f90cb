"""The gate runs again on receipt: replays, approvals, senders, expiry, targets; nothing refused executes."""

from __future__ import annotations

import pytest

from agentcage.envelopes import dump_envelope
from agentcage.ledger import ReservationStatus
from functions.aws import tool_executor
from tests.functional.aws.executor.executor_support import (
    ExecutorWorld,
    audit_kinds,
    batch,
    body_of,
    record_for,
    with_body,
)

RETURNS = "sqs_tool_requests_returns"
VOLUMES = "sqs_tool_requests_volumes"


def _denied(world: ExecutorWorld, record: dict, code: str) -> None:
    response = tool_executor.process_batch(batch(record), tool_executor=world.executor)
    assert response == {"batchItemFailures": []}  # answered, not left on the queue
    [delivered] = world.results()
    assert delivered.result.status == "denied"
    assert delivered.result.error is not None
    assert delivered.result.error.code == code, delivered.result.error
    assert delivered.result.request_id == body_of(record)["message_id"]
    denied = [e for e in world.ledger.audit(body_of(record)["task_id"]) if e.kind == "tool_denied"]
    assert denied
    assert denied[-1].data["error"] == code


def test_a_replayed_request_executes_nothing_and_gets_its_first_answer_again(world: ExecutorWorld) -> None:
    # GIVEN a read that already executed once
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    tool_executor.process_batch(batch(record), tool_executor=world.executor)
    [first] = world.results()
    assert first.result.status == "ok"

    # WHEN the same message arrives again (SQS redelivery, or someone replaying it)
    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN the service is not called a second time; the answer is the stored one, byte for byte
    [again] = world.results()
    assert dump_envelope(again.result) == dump_envelope(first.result)
    assert world.transport.count("getCustomer") == 1
    assert "tool_denied" not in audit_kinds(world.ledger, "task-returns-0001")


def test_a_young_replay_with_no_stored_answer_stays_queued(world: ExecutorWorld) -> None:
    # GIVEN a reservation consumed without an answer stored, just now (its attempt may still be running)
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    world.ledger.consume(body_of(record)["reservation_id"])
    # WHEN the request is delivered
    response = tool_executor.process_batch(batch(record), tool_executor=world.executor)
    # THEN it is left on the queue for a later delivery; the service is not called, nothing is answered
    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert world.results() == []
    assert world.transport.calls == []


def test_a_write_without_an_approval_is_denied(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "createRefund"), approve=False)
    _denied(world, record, "approval_required")
    assert world.transport.calls == []


def test_an_approval_for_other_arguments_is_denied(world: ExecutorWorld) -> None:
    # GIVEN an approval granted for a smaller refund than the one requested
    template = record_for(RETURNS, "createRefund")
    body = body_of(template)
    world.ensure_task(body["task_id"])
    smaller = world.approval(body, args={**body["args"], "amount_cents": 5000})
    record = world.prepare(template, approval_id=smaller.approval_id)
    _denied(world, record, "approval_mismatch")
    assert world.transport.calls == []
    assert world.ledger.get_approval(smaller.approval_id).used_at is None


def test_an_expired_approval_is_denied(world: ExecutorWorld) -> None:
    template = record_for(RETURNS, "createRefund")
    body = body_of(template)
    world.ensure_task(body["task_id"])
    approval = world.approval(body, ttl_seconds=60)
    world.clock.advance(61)
    record = world.prepare(template, approval_id=approval.approval_id)
    _denied(world, record, "approval_expired")
    assert world.transport.calls == []


def test_an_approval_decided_by_the_agent_itself_is_denied(world: ExecutorWorld) -> None:
    template = record_for(RETURNS, "createRefund")
    body = body_of(template)
    world.ensure_task(body["task_id"])
    approval = world.approval(body, approver=body["agent_id"])
    _denied(world, world.prepare(template, approval_id=approval.approval_id), "self_approval")


def test_a_pending_approval_is_denied(world: ExecutorWorld) -> None:
    template = record_for(RETURNS, "createRefund")
    body = body_of(template)
    world.ensure_task(body["task_id"])
    pending = world.approval(body, decide=False)
    _denied(world, world.prepare(template, approval_id=pending.approval_id), "approval_invalid")


def test_an_approval_is_used_once_even_with_a_fresh_reservation(world: ExecutorWorld) -> None:
    # GIVEN a refund executed under an approval
    template = record_for(RETURNS, "createRefund")
    first = world.prepare(template)
    tool_executor.process_batch(batch(first), tool_executor=world.executor)
    assert [d.result.status for d in world.results()] == ["ok"]

    # WHEN a new message (new reservation, new id) carries the same approval
    again = world.prepare(template, approval_id=body_of(first)["approval_id"], message_id="msg-second-try-01")

    # THEN the approval no longer authorises anything
    _denied(world, again, "approval_invalid")
    assert world.transport.count("createRefund") == 1


def test_a_message_sent_by_another_tasks_session_is_denied_and_burns_nothing(world: ExecutorWorld) -> None:
    # GIVEN a request whose SQS SenderId names another task's role session
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    record["attributes"]["SenderId"] = "AROAEXAMPLEBRIDGEROLE:task-someone-else"

    _denied(world, record, "sender_mismatch")
    # THEN nothing ran and the reservation is still there for the real message
    assert world.transport.calls == []
    reservation = world.ledger.get_reservation(body_of(record)["reservation_id"])
    assert reservation.status is ReservationStatus.ACTIVE


def test_a_sender_that_is_not_a_role_session_is_not_a_mismatch(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    record["attributes"]["SenderId"] = "123456789012"
    tool_executor.process_batch(batch(record), tool_executor=world.executor)
    assert [d.result.status for d in world.results()] == ["ok"]


def test_an_expired_request_is_denied_without_touching_its_reservation(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"), expires_in=30)
    world.clock.advance(31)
    _denied(world, record, "envelope_expired")
    assert world.ledger.get_reservation(body_of(record)["reservation_id"]).status is ReservationStatus.ACTIVE


def test_a_reservation_made_for_other_arguments_is_refused_and_not_consumed(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"), reserve_digest="f" * 64)
    _denied(world, record, "reservation_state")
    assert world.ledger.get_reservation(body_of(record)["reservation_id"]).status is ReservationStatus.ACTIVE


def test_an_unknown_reservation_is_denied(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    body = body_of(record) | {"reservation_id": "task-returns-0001.r00000000000000000abc"}
    _denied(world, with_body(record, body), "reservation_not_found")


def test_a_request_of_a_halted_task_is_denied(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    world.ledger.transition("task-returns-0001", "halted", reason="budget exhausted")
    _denied(world, record, "task_finished")


@pytest.mark.parametrize(
    "volume_id",
    [
        "vol-0a1b2c3d4e5f60001",  # env=production-candidate: the janitor incident
        "vol-0a1b2c3d4e5f60003",  # environment=Production
        "vol-0a1b2c3d4e5f60005",  # protected=true
    ],
)
def test_deleting_a_production_like_volume_is_denied_even_when_approved(
    world: ExecutorWorld, volume_id: str
) -> None:
    # GIVEN an approved deletion (the coordinator was fooled): the tags come from the service here
    record = world.prepare(record_for(VOLUMES, "deleteVolume"), args={"volume_id": volume_id})
    _denied(world, record, "policy_denied")
    assert [c.operation for c in world.transport.calls] == ["getVolume"]
    denied = [e for e in world.ledger.audit("task-janitor-0001") if e.kind == "tool_denied"]
    assert "destructive-forbidden-on-production-like-target" in denied[-1].data["details"]["policies"]


def test_deleting_a_volume_whose_tags_cannot_be_resolved_is_denied(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(VOLUMES, "deleteVolume"), args={"volume_id": "vol-00000000deadbeef"})
    _denied(world, record, "policy_denied")
    denied = [e for e in world.ledger.audit("task-janitor-0001") if e.kind == "tool_denied"]
    assert denied[-1].data["details"]["target"] == {
        "target_id": "vol-00000000deadbeef",
        "known": False,
        "tags": None,
        "status": 404,
    }


def test_destructive_calls_are_denied_in_a_production_deployment(
    world: ExecutorWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.executor.gate.environment = "prod"
    record = world.prepare(record_for(VOLUMES, "deleteVolume"))
    _denied(world, record, "policy_denied")


def test_a_tool_outside_the_agents_toolset_is_denied(world: ExecutorWorld) -> None:
    # The janitor's task asking for a refund: a reservation exists, but the policy says no.
    template = record_for(VOLUMES, "listVolumes")
    record = world.prepare(template, tool="getCustomer", args={"customer_id": "C-1001"})
    _denied(world, record, "tool_not_allowed")
    assert world.transport.calls == []


def test_an_approval_decided_by_the_coordinators_own_identity_is_denied(world: ExecutorWorld) -> None:
    # GIVEN the executor knows the coordinator's managed identity (infra sets its object id)
    world.executor.gate.excluded_approvers = ("coordinator-object-id",)
    template = record_for(RETURNS, "createRefund")
    body = body_of(template)
    world.ensure_task(body["task_id"])
    by_machine = world.approval(body, approver="coordinator-object-id")
    record = world.prepare(template, approval_id=by_machine.approval_id)
    # THEN the refund is refused as a self-approval and nothing is called or spent
    _denied(world, record, "self_approval")
    assert world.transport.calls == []
    assert world.ledger.get_approval(by_machine.approval_id).used_at is None
