"""The gate runs again on receipt: replays, approvals, senders, expiry, targets; nothing refused executes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from agentcage.budget.limits import Usage
from agentcage.constants import BRIDGE_ROLE_ID_ENV
from agentcage.envelopes import dump_envelope
from agentcage.ledger import ReservationStatus
from functions.aws import tool_executor
from functions.aws.executor.checks import CLOCK_SKEW_SECONDS
from tests.functional.aws.executor.executor_support import (
    REQUESTER,
    ExecutorWorld,
    audit_kinds,
    batch,
    body_of,
    emf_documents,
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


def test_an_approval_decided_by_the_tasks_own_requester_is_denied(world: ExecutorWorld) -> None:
    # Four eyes, checked again on receipt against the ledger's requester: a person never approves a
    # call made on their own behalf (say, an MCP client holding their token approving its own write).
    template = record_for(RETURNS, "createRefund")
    body = body_of(template)
    world.ensure_task(body["task_id"])
    approval = world.approval(body, approver=REQUESTER.id)
    _denied(world, world.prepare(template, approval_id=approval.approval_id), "self_approval")
    assert world.transport.calls == []


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


def _left_unanswered(
    world: ExecutorWorld,
    record: dict,
    code: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The record stays on the queue (a batch item failure), nothing is answered, nothing runs, and
    nothing is written to the claimed task's audit log; the refusal is logged and counted with its code."""
    capsys.readouterr()
    task_id = body_of(record)["task_id"]
    audit_before = audit_kinds(world.ledger, task_id) if task_id in world.tasks else []
    response = tool_executor.process_batch(batch(record), tool_executor=world.executor)
    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert world.results() == []
    assert world.transport.calls == []
    if task_id in world.tasks:
        assert audit_kinds(world.ledger, task_id) == audit_before
    output = capsys.readouterr().out
    denials = [d for d in emf_documents(output) if "ToolDenials" in d and d.get("reason") == code]
    assert denials, output
    logged = [r for r in caplog.records if "does not verify" in r.getMessage()]
    assert [getattr(r, "code", None) for r in logged] == [code]


def test_a_message_sent_by_another_tasks_session_is_not_answered_and_burns_nothing(
    world: ExecutorWorld, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a request whose SQS SenderId names another task's role session
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    record["attributes"]["SenderId"] = "AROAEXAMPLEBRIDGEROLE:task-someone-else"

    # WHEN it arrives THEN it is left for the dead-letter queue, unanswered
    _left_unanswered(world, record, "sender_mismatch", capsys, caplog)
    # AND the reservation is still there for the real message
    reservation = world.ledger.get_reservation(body_of(record)["reservation_id"])
    assert reservation.status is ReservationStatus.ACTIVE


def test_a_sender_that_is_not_a_role_session_is_not_answered(
    world: ExecutorWorld, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a request sent by an IAM user (its SenderId is an account or user id, not a role session)
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    record["attributes"]["SenderId"] = "AIDAEXAMPLEUSER0000001"

    # WHEN it arrives THEN it is not the task's bridge: unanswered, nothing consumed
    _left_unanswered(world, record, "sender_mismatch", capsys, caplog)
    assert world.ledger.get_reservation(body_of(record)["reservation_id"]).status is ReservationStatus.ACTIVE


def test_a_session_of_another_role_named_after_the_task_is_not_answered(
    world: ExecutorWorld,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN the bridge role's unique id, as infra sets it, and a request sent by a session of ANOTHER
    # role (a Lambda's, a person's) that someone named after the task
    monkeypatch.setenv(BRIDGE_ROLE_ID_ENV, "AROAEXAMPLEBRIDGEROLE")
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    _, _, session = record["attributes"]["SenderId"].partition(":")
    record["attributes"]["SenderId"] = f"AROAEXAMPLEOTHERROLE0:{session}"

    # WHEN it arrives THEN it is not the bridge: unanswered, nothing consumed
    _left_unanswered(world, record, "sender_mismatch", capsys, caplog)
    assert world.ledger.get_reservation(body_of(record)["reservation_id"]).status is ReservationStatus.ACTIVE

    # AND the same request from the bridge role's session is answered
    record["attributes"]["SenderId"] = f"AROAEXAMPLEBRIDGEROLE:{session}"
    assert tool_executor.process_batch(batch(record), tool_executor=world.executor) == {
        "batchItemFailures": []
    }
    [delivered] = world.results()
    assert delivered.result.status == "ok"


def test_a_reservation_made_for_other_arguments_is_not_answered_and_not_consumed(
    world: ExecutorWorld, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"), reserve_digest="f" * 64)
    _left_unanswered(world, record, "reservation_state", capsys, caplog)
    assert world.ledger.get_reservation(body_of(record)["reservation_id"]).status is ReservationStatus.ACTIVE


def test_an_unknown_reservation_is_not_answered(
    world: ExecutorWorld, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    body = body_of(record) | {"reservation_id": "task-returns-0001.r00000000000000000abc"}
    _left_unanswered(world, with_body(record, body), "reservation_not_found", capsys, caplog)


def test_changing_only_the_agent_id_to_the_janitor_runs_no_janitor_tool(
    world: ExecutorWorld, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a returns-coordinator task's request, reserved and approved by a person, for a destructive
    # janitor tool, and the envelope's agent_id changed (only that) to janitor-agent
    template = record_for(VOLUMES, "deleteVolume")
    body = body_of(template) | {"task_id": "task-returns-0001", "agent_id": "returns-coordinator"}
    template = with_body(template, body)
    template["attributes"]["SenderId"] = "AROAEXAMPLEBRIDGEROLE:task-returns-0001"
    record = world.prepare(template, approve=True)
    forged = with_body(record, body_of(record) | {"agent_id": "janitor-agent"})

    # WHEN it arrives
    # THEN the task's agent in the ledger is the authority: unanswered, nothing deleted or consumed
    _left_unanswered(world, forged, "sender_mismatch", capsys, caplog)
    assert world.transport.count("deleteVolume") == 0
    assert world.ledger.get_reservation(body_of(record)["reservation_id"]).status is ReservationStatus.ACTIVE
    assert world.ledger.get_approval(body_of(record)["approval_id"]).used_at is None


def test_a_reservation_made_for_another_agent_is_not_this_tasks_call(
    world: ExecutorWorld, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a returns task's read whose reservation records another agent (the ledger's own record)
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    body = body_of(record)
    made = world.ledger.reserve(
        body["task_id"],
        Usage(tool_calls=1),
        kind="tool",
        tool=body["tool"],
        args_digest=body["args_digest"],
        agent_id="janitor-agent",
    )
    forged = with_body(record, body | {"reservation_id": made.reservation_id})

    # WHEN it arrives
    # THEN reservation, task and envelope must name one agent: unanswered, nothing executed or consumed
    _left_unanswered(world, forged, "reservation_state", capsys, caplog)
    assert world.transport.count("getCustomer") == 0
    assert world.ledger.get_reservation(made.reservation_id).status is ReservationStatus.ACTIVE


def test_a_reservation_recording_the_tasks_agent_is_executed(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    body = body_of(record)
    made = world.ledger.reserve(
        body["task_id"],
        Usage(tool_calls=1),
        kind="tool",
        tool=body["tool"],
        args_digest=body["args_digest"],
        agent_id=body["agent_id"],
    )
    tool_executor.process_batch(
        batch(with_body(record, body | {"reservation_id": made.reservation_id})), tool_executor=world.executor
    )
    [delivered] = world.results()
    assert delivered.result.status == "ok"


def test_an_approval_asked_for_by_another_agent_does_not_authorise_the_tasks_call(
    world: ExecutorWorld,
) -> None:
    # GIVEN a returns-coordinator task's refund whose approval a janitor-agent asked for (same task,
    # tool and arguments, decided by a person)
    record = world.prepare(record_for(RETURNS, "createRefund"), approve=False)
    body = body_of(record)
    approval = world.approval(body | {"agent_id": "janitor-agent"})
    record = with_body(record, body | {"approval_id": approval.approval_id})

    # WHEN it arrives THEN the approval does not match the task's agent: refused, nothing runs
    _denied(world, record, "approval_mismatch")
    assert world.transport.count("createRefund") == 0


def test_a_request_issued_in_the_future_is_refused(world: ExecutorWorld) -> None:
    # GIVEN a request whose issued_at is ten minutes ahead of the executor's clock
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    now = world.clock()
    future = {"issued_at": (now + timedelta(minutes=10)).isoformat()}
    future["expires_at"] = (now + timedelta(minutes=11)).isoformat()
    record = with_body(record, body_of(record) | future)

    # WHEN it arrives THEN it is refused without running (beyond CLOCK_SKEW_SECONDS)
    _denied(world, record, "invalid_envelope")
    assert world.transport.calls == []
    assert world.ledger.get_reservation(body_of(record)["reservation_id"]).status is ReservationStatus.ACTIVE


def test_a_request_issued_within_the_clock_skew_allowance_runs(world: ExecutorWorld) -> None:
    # GIVEN a request stamped by a coordinator whose clock runs a minute ahead (its reservation too)
    world.clock.advance(60)
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    world.clock.advance(-60)

    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    assert [d.result.status for d in world.results()] == ["ok"]
    assert CLOCK_SKEW_SECONDS >= 60


def test_a_ten_year_expiry_is_refused(world: ExecutorWorld) -> None:
    # GIVEN a genuine request whose expires_at was pushed ten years out
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    issued = datetime.fromisoformat(body_of(record)["issued_at"])
    record = with_body(record, body_of(record) | {"expires_at": (issued + timedelta(days=3650)).isoformat()})

    # WHEN it arrives THEN its lifetime exceeds its reservation's (the coordinator's TTL): refused
    _denied(world, record, "invalid_envelope")
    assert world.transport.calls == []


def test_an_expired_request_is_denied_without_touching_its_reservation(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"), expires_in=30)
    world.clock.advance(31)
    _denied(world, record, "envelope_expired")
    assert world.ledger.get_reservation(body_of(record)["reservation_id"]).status is ReservationStatus.ACTIVE


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


def test_a_request_carrying_a_dispatched_calls_reservation_under_another_message_id_is_unanswered(
    world: ExecutorWorld, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a reservation the coordinator made for request "msg-dispatched"
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    body = body_of(record)
    made = world.ledger.reserve(
        body["task_id"],
        Usage(tool_calls=1),
        kind="tool",
        tool=body["tool"],
        args_digest=body["args_digest"],
        agent_id=body["agent_id"],
        request_id="msg-dispatched",
    )
    assert world.ledger.get_reservation(made.reservation_id).request_id == "msg-dispatched"
    # WHEN a request carries it under another message id (say, another pending call's)
    forged = with_body(record, body | {"reservation_id": made.reservation_id, "message_id": "msg-other"})
    # THEN it is not that call: unanswered, nothing executed or consumed
    _left_unanswered(world, forged, "reservation_state", capsys, caplog)
    assert world.transport.count("getCustomer") == 0
    assert world.ledger.get_reservation(made.reservation_id).status is ReservationStatus.ACTIVE
    # AND under its own message id it runs
    tool_executor.process_batch(
        batch(
            with_body(record, body | {"reservation_id": made.reservation_id, "message_id": "msg-dispatched"})
        ),
        tool_executor=world.executor,
    )
    [delivered] = world.results()
    assert delivered.result.status == "ok"


@pytest.mark.parametrize("missing", ["agent_id", "args_digest"])
def test_a_tool_reservation_without_its_agent_or_digest_is_never_a_dispatched_calls(
    world: ExecutorWorld,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    missing: str,
) -> None:
    # GIVEN a tool reservation that names no agent or no digest (nothing the coordinator dispatches)
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    body = body_of(record)
    named = {"agent_id": body["agent_id"], "args_digest": body["args_digest"]} | {missing: None}
    made = world.ledger.reserve(body["task_id"], Usage(tool_calls=1), kind="tool", tool=body["tool"], **named)
    # WHEN a request carries it, THEN it is unanswered and nothing runs
    _left_unanswered(
        world,
        with_body(record, body | {"reservation_id": made.reservation_id}),
        "reservation_state",
        capsys,
        caplog,
    )
    assert world.transport.count("getCustomer") == 0
