"""The return-exception flow through the Function App's own functions, on SQLite and DynamoDB."""

from __future__ import annotations

import json

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE
from agentcage.envelopes import AgentStep, ToolRequest, parse_envelope
from agentcage.trace import parse_traceparent
from tests.functional.azure.azure_support import call, principal_header
from tests.functional.azure.azure_support import requester_http as http  # from the tests' requester
from tests.functional.azure.conftest import Harness

REQUEST = "Refund order O-50001 for customer C-1001: returned 45 days after purchase, outside the window."
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def start(harness: Harness, request: str = REQUEST, **extra: object) -> dict:
    body = json.dumps({"request": request, **extra}).encode()
    status, answer, _ = call(
        harness.functions["create_task"],
        http("POST", "tasks", body=body, headers={"Content-Type": "application/json", "traceparent": CALLER}),
    )
    assert status == 202, answer
    return answer


def get_task(harness: Harness, task_id: str) -> dict:
    status, view, _ = call(
        harness.functions["get_task"], http("GET", f"tasks/{task_id}", route_params={"task_id": task_id})
    )
    assert status == 200, view
    return view


def decide(harness: Harness, approval_id: str, decision: str, headers: dict[str, str]) -> tuple[int, dict]:
    body = json.dumps({"decision": decision, "comment": "checked the receipt"}).encode()
    status, answer, _ = call(
        harness.functions["approval"],
        http(
            "POST",
            f"approvals/{approval_id}",
            body=body,
            route_params={"approval_id": approval_id},
            headers={"Content-Type": "application/json", **headers},
            principal=None,  # exactly who ``headers`` say (nobody, when they name no one)
        ),
    )
    return status, answer


def test_return_exception_waits_for_approval_then_completes(harness: Harness) -> None:
    # GIVEN a task started over HTTP with the caller's trace
    started = start(harness)
    task_id = started["task_id"]
    assert started["status_url"].endswith(f"/api/tasks/{task_id}")
    assert parse_traceparent(started["traceparent"]).trace_id == CALLER.split("-")[1]

    # WHEN the queues deliver until the system is quiet
    harness.pump.run()

    # THEN the refund waits for a person, bound to its exact arguments, and people were told
    view = get_task(harness, task_id)
    assert view["state"] == "awaiting_approval"
    assert [c["tool"] for s in view["steps"] for c in s["calls"]] == [
        "getCustomer",
        "listRecentOrders",
        "assessReturnException",
        "createRefund",
    ]
    (pending,) = view["pending_approvals"]
    assert pending["tool"] == "createRefund"
    assert pending["arguments"]["amount_cents"] == 18999
    assert harness.notifier.notices[0].approval_id == pending["approval_id"]
    status, shown, _ = call(
        harness.functions["approval"],
        http(
            "GET", f"approvals/{pending['approval_id']}", route_params={"approval_id": pending["approval_id"]}
        ),
    )
    assert status == 200
    assert shown["status"] == "pending"
    assert shown["risk_reasons"]
    assert len(harness.executor.executed) == 3

    # WHEN nobody signed in approves, THEN 401; WHEN a person approves, THEN the refund runs and completes
    assert decide(harness, pending["approval_id"], "approve", {})[0] == 401
    status, decided = decide(
        harness,
        pending["approval_id"],
        "approve",
        {"X-MS-CLIENT-PRINCIPAL": principal_header("oid-rita", "Rita")},
    )
    assert status == 200
    assert decided["approval"]["status"] == "approved"
    assert decided["approval"]["approver"] == "oid-rita"
    assert "note" not in decided
    harness.pump.run()
    view = get_task(harness, task_id)
    assert view["state"] == "completed"
    assert "Refund RF-1 of $189.99" in view["final_answer"]
    assert view["budget"]["used"]["tool_calls"] == 4
    assert view["budget"]["used"]["model_steps"] == 4
    assert view["budget"]["reserved"] == {"tokens": 0, "cost_micro_usd": 0, "model_steps": 0, "tool_calls": 0}
    refund = harness.executor.executed[-1]
    assert refund.tool == "createRefund"
    assert refund.approval_id == pending["approval_id"]

    # AND every message carried the caller's trace id, in the envelope and the Service Bus properties
    trace_id = CALLER.split("-")[1]
    for message in harness.sender.messages:
        model = AgentStep if message.queue == AGENT_STEPS_QUEUE else ToolRequest
        assert parse_envelope(model, message.body).trace.trace_id == trace_id
        assert message.application_properties["Diagnostic-Id"].split("-")[1] == trace_id
    assert {m.queue for m in harness.sender.messages} == {AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE}
    thoughts = [e for e in harness.coordinator.ledger.audit(task_id) if e.kind == "thought"]
    assert len(thoughts) == 4
    assert all(t.data["scripted"] and t.trace_id == trace_id for t in thoughts)
    assert len({t.data["prompt_digest"] for t in thoughts}) == 4


def test_a_denied_approval_reaches_the_model_and_ends_the_task(harness: Harness) -> None:
    task_id = start(harness)["task_id"]
    harness.pump.run()
    (pending,) = get_task(harness, task_id)["pending_approvals"]

    status, _ = decide(
        harness, pending["approval_id"], "deny", {"X-MS-CLIENT-PRINCIPAL": principal_header("oid-r", "Rita")}
    )
    harness.pump.run()

    assert status == 200
    view = get_task(harness, task_id)
    assert view["state"] == "completed"
    assert "was not issued" in view["final_answer"]
    assert "approval_denied" in view["final_answer"]
    assert [r.tool for r in harness.executor.executed] == [
        "getCustomer",
        "listRecentOrders",
        "assessReturnException",
    ]
    # AND a second decision is a conflict
    again = decide(
        harness, pending["approval_id"], "approve", {"X-MS-CLIENT-PRINCIPAL": principal_header("oid-r", "R")}
    )
    assert again[0] == 409


def test_a_duplicate_tool_result_changes_nothing(harness: Harness) -> None:
    task_id = start(harness)["task_id"]
    harness.pump.run()
    before = get_task(harness, task_id)
    sent_before = len(harness.sender.messages)
    audit_before = len(harness.coordinator.ledger.audit(task_id))

    # WHEN the first result is delivered again (Service Bus at-least-once)
    from tests.functional.azure.azure_support import sb_message

    harness.functions["record_tool_result"](
        sb_message(harness.pump.results[0], message_id="again", delivery_count=2)
    )

    # THEN nothing is sent, nothing is counted; the audit log notes the duplicate
    assert len(harness.sender.messages) == sent_before
    after = get_task(harness, task_id)
    assert after["budget"] == before["budget"]
    assert after["steps"] == before["steps"]
    events = harness.coordinator.ledger.audit(task_id)[audit_before:]
    assert [e.kind for e in events] == ["duplicate_result"]
