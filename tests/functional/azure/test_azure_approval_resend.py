"""An approved call whose send failed is sent by the approver's repeat of the same decision, once."""

from __future__ import annotations

from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.coordinator import request_message_id
from agentcage.envelopes import ToolRequest, parse_envelope
from tests.functional.azure.azure_support import principal_header
from tests.functional.azure.conftest import Harness
from tests.functional.azure.test_azure_return_exception import decide, get_task, start

RITA = {"X-MS-CLIENT-PRINCIPAL": principal_header("oid-rita", "Rita")}
OTTO = {"X-MS-CLIENT-PRINCIPAL": principal_header("oid-otto", "Otto")}


def _waiting(harness: Harness) -> tuple[str, str]:
    task_id = start(harness)["task_id"]
    harness.pump.run()
    (pending,) = get_task(harness, task_id)["pending_approvals"]
    assert pending["tool"] == "createRefund"
    return task_id, str(pending["approval_id"])


def _refund_requests(harness: Harness) -> list[ToolRequest]:
    requests = [parse_envelope(ToolRequest, m.body) for m in harness.sender.received(TOOL_REQUESTS_QUEUE)]
    return [r for r in requests if r.tool == "createRefund"]


def test_a_failed_send_after_approving_is_recovered_by_repeating_the_decision(harness: Harness) -> None:
    # GIVEN a refund waiting for approval, and Service Bus refusing the next send
    task_id, approval_id = _waiting(harness)
    harness.sender.fail_next(1)

    # WHEN Rita approves: the decision is recorded, its request is not sent
    status, answer = decide(harness, approval_id, "approve", RITA)
    assert status == 502, answer
    assert answer["error"]["code"] == "transport_error"
    assert "POST the same decision again" in answer["error"]["message"]
    assert harness.coordinator.ledger.get_approval(approval_id).status.value == "approved"
    assert _refund_requests(harness) == []
    harness.pump.run()
    assert [r.tool for r in harness.executor.executed].count("createRefund") == 0

    # AND another approver no longer sees it (nothing pending: need-to-know), the other decision
    # conflicts, and nothing is sent
    assert decide(harness, approval_id, "approve", OTTO)[0] == 404
    assert decide(harness, approval_id, "deny", RITA)[0] == 409
    assert _refund_requests(harness) == []

    # WHEN Rita repeats her decision
    status, answer = decide(harness, approval_id, "approve", RITA)

    # THEN it succeeds again, the approved request goes out once, and the task completes
    assert status == 200, answer
    assert answer["approval"]["status"] == "approved"
    [refund] = _refund_requests(harness)
    assert refund.approval_id == approval_id
    harness.pump.run()
    view = get_task(harness, task_id)
    assert view["state"] == "completed", view
    assert "Refund RF-1 of $189.99" in view["final_answer"]
    assert [r.tool for r in harness.executor.executed].count("createRefund") == 1
    assert view["budget"]["used"]["tool_calls"] == 4
    assert view["budget"]["reserved"]["tool_calls"] == 0
    kinds = [e.kind for e in harness.coordinator.ledger.audit(task_id)]
    assert kinds.count("approval_decided") == 1
    assert kinds.count("approval_decision_repeated") == 1
    assert kinds.count("tool_request") == 1

    # AND a repeat once the task is done answers success and sends nothing
    sent = len(harness.sender.messages)
    assert decide(harness, approval_id, "approve", RITA)[0] == 200
    assert len(harness.sender.messages) == sent


def test_a_repeat_after_a_good_send_re_emits_the_same_request_which_runs_once(harness: Harness) -> None:
    task_id, approval_id = _waiting(harness)
    assert decide(harness, approval_id, "approve", RITA)[0] == 200

    # WHEN the approver's client retries (it never saw the answer)
    assert decide(harness, approval_id, "approve", RITA)[0] == 200

    # THEN the same request went out twice: same message id (Service Bus drops the copy), same
    # reservation (the executor consumes it once); the refund runs once and nothing stays reserved
    first, second = _refund_requests(harness)
    assert first == second
    copies = [
        m for m in harness.sender.received(TOOL_REQUESTS_QUEUE) if m.message_id == request_message_id(first)
    ]
    assert len(copies) == 2
    harness.pump.run()
    assert harness.executor.replays == 1
    assert [r.tool for r in harness.executor.executed].count("createRefund") == 1
    view = get_task(harness, task_id)
    assert view["state"] == "completed"
    assert view["budget"]["used"]["tool_calls"] == 4
    assert view["budget"]["reserved"]["tool_calls"] == 0


def test_a_decision_recorded_by_a_process_that_died_before_sending_is_sent_on_repeat(
    harness: Harness,
) -> None:
    # GIVEN Rita's approval written to the ledger by a process that died before it built the request
    task_id, approval_id = _waiting(harness)
    harness.coordinator.ledger.decide_approval(approval_id, True, approver="oid-rita")

    # WHEN she repeats the decision
    status, _ = decide(harness, approval_id, "approve", RITA)

    # THEN the request is built and sent now, and the task completes
    assert status == 200
    assert len(_refund_requests(harness)) == 1
    harness.pump.run()
    assert get_task(harness, task_id)["state"] == "completed"


def test_a_repeated_denial_records_one_result_and_re_emits_the_next_step(harness: Harness) -> None:
    task_id, approval_id = _waiting(harness)
    harness.sender.fail_next(1)
    assert decide(harness, approval_id, "deny", RITA)[0] == 502  # the next step was not sent

    status, _ = decide(harness, approval_id, "deny", RITA)

    assert status == 200
    harness.pump.run()
    view = get_task(harness, task_id)
    assert view["state"] == "completed"
    assert "approval_denied" in view["final_answer"]
    assert [r.tool for r in harness.executor.executed].count("createRefund") == 0
