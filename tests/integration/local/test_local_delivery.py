"""Delivery semantics end to end: duplicates change nothing, poison ends in the DLQ, bursts finish."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from agentcage.local import LocalHost, QueueKey
from agentcage.local.client import FINAL_STATES, AgentcageClient
from agentcage.local.demo import RETURN_REQUEST, DemoRunner

HALLUCINATE = "Fetch customer C-1001 with their history."
SETTLED_WITHIN_S = 120.0  # each wait, on a loaded 2-core machine: a bound, not a measurement


def wait_idle(host: LocalHost, timeout_s: float = SETTLED_WITHIN_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not host.idle():
        assert time.monotonic() < deadline, host.health()
        time.sleep(0.02)


def completed_lookup_task(client: AgentcageClient) -> str:
    task_id = client.start_task(HALLUCINATE, context={"scenario": "hallucinate"})["task_id"]
    assert client.wait_settled(task_id, timeout_s=SETTLED_WITHIN_S)["state"] == "completed"
    return task_id


def sent_messages(host: LocalHost, queue: QueueKey, task_id: str) -> list[tuple[str, dict]]:
    assert host.broker is not None
    return [
        (m.body, m.properties)
        for m in host.broker.messages(queue, state="completed")
        if json.loads(m.body).get("task_id") == task_id
    ]


def test_a_duplicated_tool_request_executes_nothing(host: LocalHost, client: AgentcageClient) -> None:
    # GIVEN a task waiting for its refund approval, its lookups done
    runner = DemoRunner(host, timeout_s=SETTLED_WITHIN_S)
    refunds = runner._refunds("O-50001")
    task_id = client.start_task(RETURN_REQUEST, context={"scenario": "return_exception"})["task_id"]
    before = client.wait_settled(task_id, timeout_s=SETTLED_WITHIN_S)
    assert before["state"] == "awaiting_approval"
    requests = sent_messages(host, QueueKey("aws", "tool-requests"), task_id)
    [(lookup, properties)] = [m for m in requests if json.loads(m[0])["tool"] == "getCustomer"]
    # WHEN SQS delivers the lookup's tool request again
    assert host.broker is not None
    host.broker.send(QueueKey("aws", "tool-requests"), lookup, properties=properties)
    wait_idle(host)
    # THEN its reservation was consumed already: nothing executes again; the stored result is sent once
    # more (a duplicate the coordinator ignores) and the task is unchanged
    after = client.get_task(task_id)
    assert (after["state"], after["step"], after["budget"]["used"]) == (
        before["state"],
        before["step"],
        before["budget"]["used"],
    )
    audit = host.ledger().audit(task_id)
    lookup_id = json.loads(lookup)["message_id"]
    executed = [e for e in audit if e.kind == "tool_executed" and e.data.get("request_id") == lookup_id]
    resent = [e for e in audit if e.kind == "tool_result_resent"]
    assert len(executed) == 1, executed
    assert resent, [e.kind for e in audit]
    # AND WHEN the refund is approved, executed, and its request delivered once more
    [approval] = after["pending_approvals"]
    client.decide(approval["approval_id"], "approve")
    assert client.wait_settled(task_id, timeout_s=SETTLED_WITHIN_S)["state"] == "completed"
    requests = sent_messages(host, QueueKey("aws", "tool-requests"), task_id)
    [(refund, properties)] = [m for m in requests if json.loads(m[0])["tool"] == "createRefund"]
    host.broker.send(QueueKey("aws", "tool-requests"), refund, properties=properties)
    wait_idle(host)
    # THEN exactly one refund exists for the order
    assert runner._refunds("O-50001") == refunds + 1


def test_a_duplicated_tool_result_changes_nothing(host: LocalHost, client: AgentcageClient) -> None:
    # GIVEN a completed task and one of its tool results as Service Bus delivered it
    task_id = completed_lookup_task(client)
    before = client.get_task(task_id)
    audit_before = len(host.ledger().audit(task_id))
    body, properties = sent_messages(host, QueueKey("azure", "tool-results"), task_id)[0]
    # WHEN the result is delivered again
    assert host.broker is not None
    host.broker.send(QueueKey("azure", "tool-results"), body, properties=properties)
    wait_idle(host)
    # THEN it is recognised as a duplicate: no new step, no budget counted, only a note in the audit
    after = client.get_task(task_id)
    assert (after["state"], after["step"], after["budget"]["used"]) == (
        before["state"],
        before["step"],
        before["budget"]["used"],
    )
    new_kinds = {e.kind for e in host.ledger().audit(task_id)[audit_before:]}
    assert new_kinds
    assert new_kinds <= {"duplicate_result", "result_ignored"}, new_kinds


def test_a_poison_message_naming_a_task_is_dead_lettered_and_ends_no_task(
    host: LocalHost, client: AgentcageClient
) -> None:
    # GIVEN a task waiting for an approval
    task_id = client.start_task(RETURN_REQUEST, context={"scenario": "return_exception"})["task_id"]
    assert client.wait_settled(task_id, timeout_s=SETTLED_WITHIN_S)["state"] == "awaiting_approval"
    # WHEN a malformed step message for it arrives (it fails on every delivery)
    assert host.broker is not None
    host.broker.send(QueueKey("azure", "agent-steps"), json.dumps({"task_id": task_id, "step": "first"}))
    wait_idle(host)
    # THEN it was delivered the configured number of times and dead-lettered; a message's own claims end
    # no task (anyone able to send could name any task), so the task still waits for its approval and
    # nothing was recorded on it, by the function or by the host
    [dead] = [
        m for m in host.broker.messages(QueueKey("azure", "agent-steps"), state="dead") if task_id in m.body
    ]
    assert dead.attempts == 5
    task = client.get_task(task_id)
    assert task["state"] == "awaiting_approval", task["error"]
    kinds = [e.kind for e in host.ledger().audit(task_id)]
    assert "task_failed" not in kinds
    assert "dead_lettered" not in kinds


def test_a_burst_of_50_concurrent_tasks_all_finish_within_budget(
    host: LocalHost, client: AgentcageClient
) -> None:
    # GIVEN 50 tasks started at once, each with a small budget
    budget = {"model_steps": 4, "tool_calls": 3}
    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = list(
            pool.map(
                lambda _: client.start_task(HALLUCINATE, context={"scenario": "hallucinate"}, budget=budget)[
                    "task_id"
                ],
                range(50),
            )
        )
    # WHEN the runtime works through them
    tasks = [client.wait_for(i, lambda t: t["state"] in FINAL_STATES, timeout_s=90) for i in ids]
    # THEN every one completed and none used more than its limits
    assert {t["state"] for t in tasks} == {"completed"}
    for task in tasks:
        used, limits = task["budget"]["used"], task["budget"]["limits"]
        assert used["model_steps"] <= 4, used
        assert used["tool_calls"] <= 3, used
        assert all(used[k] <= limits[k] for k in ("tokens", "cost_micro_usd", "model_steps", "tool_calls"))
