"""No dead end in the Function App: approvals nobody decides expire on a timer, and a message the ledger
vouches for that fails every delivery ends its task with the reason instead of leaving it waiting (on
SQLite and DynamoDB); a message's own claims never end a task."""

from __future__ import annotations

import json
import logging

import pytest
from azure.functions.timer import TimerRequest

from agentcage.constants import AGENT_STEPS_QUEUE, MAX_ENVELOPE_BYTES, TOOL_REQUESTS_QUEUE
from agentcage.envelopes import MAX_BODY_BYTES, AgentStep, ToolRequest, args_digest, parse_envelope
from agentcage.errors import EnvelopeTooLargeError, NotFoundError, TransportError
from agentcage.topology import queue_spec
from tests.functional.azure.azure_support import call, principal_header, sb_message
from tests.functional.azure.azure_support import requester_http as http  # from the tests' requester
from tests.functional.azure.conftest import Harness
from tests.functional.azure.test_azure_return_exception import REQUEST, decide, get_task

RITA = {"X-MS-CLIENT-PRINCIPAL": principal_header("oid-rita", "Rita")}
APPROVAL_TTL = 3600  # CoordinatorSettings.approval_ttl_seconds
LAST = queue_spec(AGENT_STEPS_QUEUE, "azure").max_deliveries


def waiting_for_approval(harness: Harness) -> tuple[str, str]:
    """A return exception waiting for its refund approval (the task's deadline outlives the approval)."""
    body = json.dumps({"request": REQUEST, "budget": {"deadline_seconds": 3 * APPROVAL_TTL}}).encode()
    status, answer, _ = call(
        harness.functions["create_task"],
        http("POST", "tasks", body=body, headers={"Content-Type": "application/json"}),
    )
    assert status == 202, answer
    harness.pump.run()
    (pending,) = get_task(harness, answer["task_id"])["pending_approvals"]
    return answer["task_id"], str(pending["approval_id"])


def tick(harness: Harness) -> None:
    """What the Functions host does every five minutes."""
    harness.functions["expire_approvals"](TimerRequest(past_due=False))


def steps_sent(harness: Harness) -> list[AgentStep]:
    return [parse_envelope(AgentStep, m.body) for m in harness.sender.received(AGENT_STEPS_QUEUE)]


# --- approvals nobody decides -------------------------------------------------------------------------
def test_the_timer_expires_an_overdue_approval_and_the_task_moves_on(harness: Harness) -> None:
    # GIVEN a refund waiting for a person
    task_id, approval_id = waiting_for_approval(harness)
    sent = len(harness.sender.messages)

    # WHEN the timer runs before the approval is due, THEN nothing changes
    tick(harness)
    assert len(harness.sender.messages) == sent
    assert get_task(harness, task_id)["state"] == "awaiting_approval"

    # WHEN nobody decides in time and the timer runs
    harness.clock.advance(APPROVAL_TTL + 1)
    tick(harness)

    # THEN the approval is expired, the next step is sent, and the model hears why the call did not run
    ledger = harness.coordinator.ledger
    assert ledger.get_approval(approval_id).status.value == "expired"
    [step] = steps_sent(harness)[-1:]
    assert step.task_id == task_id
    harness.pump.run()
    view = get_task(harness, task_id)
    assert view["state"] == "completed", view
    refund = next(c for s in view["steps"] for c in s["calls"] if c["approval_id"] == approval_id)
    assert refund["result"]["content"]["error"]["code"] == "approval_expired"
    assert "approval_expired" in view["final_answer"]
    assert [c.tool for c in harness.executor.executed].count("createRefund") == 0
    kinds = [e.kind for e in ledger.audit(task_id)]
    assert kinds.count("approval_expiry_sweep") == 1
    assert kinds.count("approval_expired") == 1

    # AND a later run finds nothing more to do
    sent = len(harness.sender.messages)
    tick(harness)
    assert len(harness.sender.messages) == sent


def test_a_decision_before_the_timer_stands(harness: Harness) -> None:
    # GIVEN an approval decided in time
    task_id, approval_id = waiting_for_approval(harness)
    assert decide(harness, approval_id, "approve", RITA)[0] == 200
    harness.pump.run()
    assert get_task(harness, task_id)["state"] == "completed"

    # WHEN the timer runs long after its expiry
    harness.clock.advance(APPROVAL_TTL + 1)
    sent = len(harness.sender.messages)
    tick(harness)

    # THEN it is still approved and nothing is sent
    assert harness.coordinator.ledger.get_approval(approval_id).status.value == "approved"
    assert len(harness.sender.messages) == sent


def test_a_step_the_timer_could_not_send_is_sent_by_a_later_run(harness: Harness) -> None:
    # GIVEN an overdue approval, and Service Bus refusing the timer's send
    task_id, approval_id = waiting_for_approval(harness)
    harness.clock.advance(APPROVAL_TTL + 1)
    harness.sender.fail_next(1)

    # WHEN the timer runs: the expiry is recorded, its next step is not sent (the run fails)
    with pytest.raises(TransportError):
        tick(harness)
    assert harness.coordinator.ledger.get_approval(approval_id).status.value == "expired"
    harness.pump.run()
    assert get_task(harness, task_id)["state"] == "running"

    # WHEN the timer runs again soon, THEN it sends nothing yet (the step may be merely slow)
    sent = len(harness.sender.messages)
    tick(harness)
    assert len(harness.sender.messages) == sent

    # WHEN the step has stayed unrun for longer than the resend delay
    harness.clock.advance(901)
    tick(harness)

    # THEN the step is sent again and the task finishes
    harness.pump.run()
    view = get_task(harness, task_id)
    assert view["state"] == "completed", view
    assert "step_resent" in [e.kind for e in harness.coordinator.ledger.audit(task_id)]


# --- messages that fail every delivery ------------------------------------------------------------------
def test_a_request_that_can_never_be_bridged_ends_the_task_failed(harness: Harness) -> None:
    # GIVEN AWS unreachable for every delivery of the first tool request
    body = json.dumps({"request": REQUEST}).encode()
    task_id = call(
        harness.functions["create_task"],
        http("POST", "tasks", body=body, headers={"Content-Type": "application/json"}),
    )[1]["task_id"]
    harness.bridge.failures = queue_spec(TOOL_REQUESTS_QUEUE, "azure").max_deliveries

    # WHEN Service Bus delivers it until it dead-letters
    harness.pump.run()

    # THEN the last delivery ended the task failed, naming the call and the error
    [dead] = harness.pump.dead_letters
    request = parse_envelope(ToolRequest, dead)
    view = get_task(harness, task_id)
    assert view["state"] == "failed"
    assert view["error"]["code"] == "bridge_failed"
    assert request.message_id in view["error"]["message"]
    assert "transport_error" in view["error"]["message"]
    assert [e.kind for e in harness.coordinator.ledger.audit(task_id)].count("task_failed") == 1


@pytest.mark.parametrize("function", ["run_agent_step", "bridge_to_aws", "record_tool_result"])
def test_an_unreadable_message_naming_a_task_ends_no_task_on_its_last_delivery(
    harness: Harness, function: str, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a task waiting for a person, and a forged body naming it that is no valid envelope
    task_id, _ = waiting_for_approval(harness)
    body = json.dumps({"task_id": task_id, "step": "first"})

    # WHEN it is delivered until its last delivery
    for delivery in (LAST - 1, LAST):
        with (
            caplog.at_level(logging.ERROR, logger="agentcage.functions"),
            pytest.raises(Exception, match="invalid"),
        ):
            harness.functions[function](sb_message(body, delivery_count=delivery, message_id="poison-1"))

    # THEN it still raises (Service Bus dead-letters it), is logged, and the task goes on as it was
    assert "poison-1 could not be read" in caplog.text
    assert get_task(harness, task_id)["state"] == "awaiting_approval"
    assert "task_failed" not in [e.kind for e in harness.coordinator.ledger.audit(task_id)]


def _first_request(harness: Harness, **changes: object) -> ToolRequest:
    """The first request the bridge sent, with ``changes`` (a forger's own claims)."""
    _, body, _, _ = harness.bridge.sent[0]
    request = parse_envelope(ToolRequest, body).model_copy(update=changes)
    return request.model_copy(update={"args_digest": args_digest(request.args)})


@pytest.mark.parametrize(
    "changes",
    [
        {"message_id": "req-forged"},  # a call nobody dispatched
        {"reservation_id": "res-forged"},  # a dispatched call's id, another reservation
        {"args": {"customer_id": "c-other"}},  # a dispatched call's id and reservation, other arguments
    ],
)
def test_a_forged_request_that_can_never_be_bridged_ends_no_task(
    harness: Harness, changes: dict[str, object]
) -> None:
    # GIVEN a task waiting for a person, and a request for it that no dispatched call was sent as
    task_id, _ = waiting_for_approval(harness)
    forged = _first_request(harness, **changes)
    harness.bridge.failures = LAST

    # WHEN it is delivered until it dead-letters, THEN it is refused before the bridge (never forwarded:
    # test_azure_request_forwarding), on every delivery
    for delivery in range(1, LAST + 1):
        with pytest.raises(NotFoundError):
            harness.functions["bridge_to_aws"](sb_message(forged.model_dump_json(), delivery_count=delivery))

    # AND the task goes on as it was
    assert get_task(harness, task_id)["state"] == "awaiting_approval"
    assert "task_failed" not in [e.kind for e in harness.coordinator.ledger.audit(task_id)]


def test_a_request_too_large_to_bridge_is_unreadable_and_ends_no_task(harness: Harness) -> None:
    # GIVEN a task waiting for a person, and a request naming it sized between the body limit (what a
    # bridge may send) and the whole-message limit
    task_id, _ = waiting_for_approval(harness)
    forged = _first_request(harness, args={"pad": "x" * (MAX_BODY_BYTES - 256)})
    body = forged.model_dump_json()
    assert MAX_BODY_BYTES < len(body.encode()) < MAX_ENVELOPE_BYTES

    # WHEN it is delivered until its last delivery, THEN it is refused on parse (one limit both ways)
    for delivery in range(1, LAST + 1):
        with pytest.raises(EnvelopeTooLargeError):
            harness.functions["bridge_to_aws"](sb_message(body, delivery_count=delivery))

    # AND the task goes on as it was
    assert get_task(harness, task_id)["state"] == "awaiting_approval"
    assert "task_failed" not in [e.kind for e in harness.coordinator.ledger.audit(task_id)]


def test_the_ledger_vouches_only_for_the_step_a_task_is_at(harness: Harness) -> None:
    # GIVEN a task waiting for a person after its step n
    task_id, _ = waiting_for_approval(harness)
    checkpoint = harness.coordinator.ledger.last_checkpoint(task_id)
    assert checkpoint is not None
    last = checkpoint.step
    step = AgentStep(task_id=task_id, step=last, traceparent=harness.coordinator.task(task_id).traceparent)

    # THEN its steps n and n + 1 are vouched for; an earlier or a later one, or an unknown task's, is not
    assert harness.coordinator.vouches_for_step(step)
    assert harness.coordinator.vouches_for_step(step.model_copy(update={"step": last + 1}))
    assert not harness.coordinator.vouches_for_step(step.model_copy(update={"step": last + 2}))
    if last > 1:
        assert not harness.coordinator.vouches_for_step(step.model_copy(update={"step": last - 1}))
    assert not harness.coordinator.vouches_for_step(step.model_copy(update={"task_id": "t-unknown"}))


def test_an_unreadable_message_naming_no_task_is_logged_and_left_to_dead_letter(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    task_id, _ = waiting_for_approval(harness)
    audit = len(harness.coordinator.ledger.audit(task_id))
    sent = len(harness.sender.messages)

    with caplog.at_level(logging.ERROR, logger="agentcage.functions"), pytest.raises(Exception, match="JSON"):
        harness.functions["run_agent_step"](
            sb_message("not json", delivery_count=LAST, message_id="nameless")
        )

    assert "nameless could not be read" in caplog.text
    assert get_task(harness, task_id)["state"] == "awaiting_approval"
    assert len(harness.coordinator.ledger.audit(task_id)) == audit
    assert len(harness.sender.messages) == sent
