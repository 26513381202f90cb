"""The attack of issue 12: a forged ToolRequest under a pending call's id must not decide that call.

The coordinator (on the same moto ledger) and the real executor, wired like the queues: the
coordinator's ToolRequests reach the executor as SQS records sent by the task's role session, the
executor's answers come back from the SQS results queue to ``record_result``. The attacker can send
to the tool-requests queue; it reads a pending call's message id from ``GET /api/tasks/{id}``.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from datetime import timedelta
from typing import Any

import pytest

from agentcage.approvals import PrincipalSource
from agentcage.budget import Usage
from agentcage.coordinator import Coordinator, CoordinatorHttp, Outbox
from agentcage.envelopes import AgentStep, ToolRequest, args_digest, dump_envelope
from agentcage.federation import role_session_name
from functions.aws import tool_executor
from tests.functional.aws.executor.executor_support import REQUESTER, ExecutorWorld, batch, record_for
from tests.functional.coordinator.coordinator_support import RecordingNotifier, make_coordinator

REQUEST = "Refund order O-50001 for customer C-1001: returned 45 days after purchase, outside the window."


def _principal(object_id: str, name: str, role: str = "approver") -> dict[str, str]:
    claims = [{"typ": "oid", "val": object_id}, {"typ": "name", "val": name}, {"typ": "roles", "val": role}]
    document = {"auth_typ": "aad", "role_typ": "roles", "claims": claims}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(document).encode()).decode()}


class Wiring:
    """The queues between the coordinator and the executor, delivered in order until quiet."""

    def __init__(self, world: ExecutorWorld, coordinator: Coordinator) -> None:
        self.world = world
        self.coordinator = coordinator
        self.steps: deque[AgentStep] = deque()
        self.requests: deque[ToolRequest] = deque()
        self.http = CoordinatorHttp(coordinator, self.push, principals=PrincipalSource(platform=True))

    def push(self, outbox: Outbox) -> None:
        self.steps.extend(outbox.agent_steps)
        self.requests.extend(outbox.tool_requests)

    def send_request(self, body: str, *, sender_task: str, message_id: str) -> dict[str, Any]:
        """An SQS record on the tool-requests queue, as SQS reports the sender, through the executor."""
        record = record_for("sqs_tool_requests_returns", "getCustomer")
        record["messageId"] = message_id
        record["body"] = body
        record["attributes"]["SenderId"] = f"AROAEXAMPLEBRIDGEROLE:{role_session_name(sender_task)}"
        response = tool_executor.process_batch(batch(record), tool_executor=self.world.executor)
        for delivered in self.world.results():  # the results queue -> bridge -> the coordinator
            self.push(self.coordinator.record_result(delivered.result))
        return dict(response)

    def run(self) -> None:
        for _ in range(100):
            if self.steps:
                self.push(self.coordinator.run_step(self.steps.popleft()))
            elif self.requests:
                request = self.requests.popleft()
                self.send_request(
                    dump_envelope(request), sender_task=request.task_id, message_id=request.message_id
                )
            else:
                return
        raise AssertionError("the wiring did not settle")

    def get(self, task_id: str) -> dict[str, Any]:
        answer = self.http.task("GET", task_id, _principal("oid-audrey", "Audrey", "auditor"))
        assert answer.status == 200, answer.body
        return answer.body

    def approve(self, approval_id: str) -> tuple[int, dict[str, Any]]:
        body = json.dumps({"decision": "approve"}).encode()
        headers = {"Content-Type": "application/json", **_principal("oid-rita", "Rita")}
        answer = self.http.approval("POST", approval_id, headers, body)
        return answer.status, answer.body


@pytest.fixture
def wiring(world: ExecutorWorld) -> Wiring:
    return Wiring(world, make_coordinator(world.ledger, notifier=RecordingNotifier()))


@pytest.mark.parametrize("door", ["another_tasks_session", "random_reservation"])
def test_a_forged_request_under_a_pending_calls_id_cannot_answer_it_and_the_approved_refund_runs_once(
    wiring: Wiring, world: ExecutorWorld, door: str
) -> None:
    # GIVEN a return exception waiting for a person to approve its refund, and the attacker's own task
    started = wiring.coordinator.start_task({"request": REQUEST}, requester=REQUESTER)
    task_id = started.task.task_id
    wiring.steps.append(started.step)
    wiring.run()
    view = wiring.get(task_id)
    assert view["state"] == "awaiting_approval", view
    [pending] = view["pending_approvals"]
    [call] = [c for s in view["steps"] for c in s["calls"] if c["approval_id"] == pending["approval_id"]]
    attacker = wiring.coordinator.start_task({"request": "Look up customer C-1002"}, requester=REQUESTER).task
    mine = world.ledger.reserve(
        attacker.task_id,
        Usage(tool_calls=1),
        kind="tool",
        tool="createRefund",
        args_digest=args_digest(call["arguments"]),
    )

    # WHEN the attacker sends a ToolRequest under the pending call's message id (read from GET)
    now = world.clock()
    body = {
        "schema_version": 1,
        "message_id": call["request_id"],
        "task_id": task_id,
        "step": view["step"] or 1,
        "agent_id": view["agent"],
        "tool": "createRefund",
        "args": call["arguments"],
        "args_digest": args_digest(call["arguments"]),
        "reservation_id": mine.reservation_id
        if door == "another_tasks_session"
        else f"{task_id}.r{'0' * 20}",
        "traceparent": view["traceparent"],
        "issued_at": now.isoformat(),
        "expires_at": (now + timedelta(seconds=300)).isoformat(),
    }
    sender = attacker.task_id if door == "another_tasks_session" else task_id
    response = wiring.send_request(json.dumps(body), sender_task=sender, message_id="attack-1")

    # THEN the executor answers nothing (the record stays queued, then goes to the DLQ) ...
    assert response == {"batchItemFailures": [{"itemIdentifier": "attack-1"}]}
    # ... and the pending call still has no result
    [still] = [
        c for s in wiring.get(task_id)["steps"] for c in s["calls"] if c["request_id"] == call["request_id"]
    ]
    assert still["result"] is None

    # WHEN the person approves
    status, answer = wiring.approve(pending["approval_id"])

    # THEN the approval sends the refund (200), it runs exactly once, and the model is told it ran
    assert status == 200, answer
    wiring.run()
    final = wiring.get(task_id)
    assert final["state"] == "completed", final
    [refund] = [c for s in final["steps"] for c in s["calls"] if c["approval_id"] == pending["approval_id"]]
    assert refund["result"]["status"] == "ok", refund
    assert world.transport.count("createRefund") == 1
    assert final["budget"]["reserved"]["tool_calls"] == 0


def test_the_coordinator_binds_each_dispatched_calls_reservation_to_its_request(
    wiring: Wiring, world: ExecutorWorld
) -> None:
    # GIVEN a task's first step, which dispatches its lookups
    started = wiring.coordinator.start_task({"request": REQUEST}, requester=REQUESTER)
    wiring.push(wiring.coordinator.run_step(started.step))
    assert wiring.requests
    # THEN each request's reservation names that request's message id: no other message may carry it
    for request in wiring.requests:
        assert world.ledger.get_reservation(request.reservation_id).request_id == request.message_id
