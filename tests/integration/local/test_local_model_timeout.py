"""A model call that times out mid-task: the step message is redelivered and the task resumes.

``agentcage dev`` runs with its model pointed at a loopback OpenAI-compatible server that serves the
return-exception conversation from recorded Chat Completions responses (the functional model tests'
server and recordings). On the second model call the server sleeps past the client's timeout on every
attempt (the coordinator retries, each attempt budgeted on its own), so the call fails with
``model_timeout`` once the retries are exhausted, the error reaches the queue, and the
``agent-steps`` message is delivered again; the next delivery resumes the step from its checkpoint.
A clean run of the same conversation (its own host, so the order is still refundable) gives the
usage the timed-out run is compared with.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentcage.budget.limits import Usage
from agentcage.constants import (
    AGENT_STEPS_QUEUE,
    BUDGET_CONFIG_ENV,
    MODEL_BASE_URL_ENV,
    MODEL_DEPLOYMENT_ENV,
    MODEL_PROVIDER_ENV,
    MODEL_TIMEOUT_ENV,
)
from agentcage.errors import ModelTimeoutError
from agentcage.ledger import open_ledger
from agentcage.ledger.base import Ledger
from agentcage.ledger.models import AuditEvent, ReservationStatus
from agentcage.ledger.testing import dynamodb_client, moto_server
from agentcage.local import QueueKey
from agentcage.local.broker import DurableBroker
from agentcage.local.client import AgentcageClient
from agentcage.local.config import DOMAIN_TABLE
from agentcage.local.demo import RETURN_REQUEST
from agentcage.models import RetryPolicy
from tests.functional.models.models_chat_server import ChatServer, Reply, recording
from tests.integration.local.conftest import DevProcess, dev_environment

pytestmark = pytest.mark.integration

MODEL = "gpt-4o"
# The model server answers at once or holds the answer until the run ends, so only a held call can
# time out; the timeout is generous for a loopback answer to a loaded 2-core machine (at 0.5 s an
# answer given at once could time out too, and a step be delivered twice in the clean run).
MODEL_TIMEOUT_S = 2.0
HELD_S = 300.0  # longer than any run: the server's release at exit ends the wait
SETTLED_WITHIN_S = 120.0  # an upper bound for a loaded machine, not a measurement
CUSTOMER, ORDER, AMOUNT_CENTS, DAYS = "C-1001", "O-50001", 18999, 45
REASON = f"Return exception for order {ORDER}: returned {DAYS} days after purchase, outside the window."
# What a model call may cost (configured, as in production: an unpriced model cannot be bounded).
BUDGET_YAML = f"""
prices:
  {MODEL}:
    input_usd_per_million: "2.50"
    output_usd_per_million: "10.00"
"""


def _tool_calls_reply(step: int, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """The recorded tool-call completion, calling ``calls`` instead of the recording's own."""
    body = recording("chat_tool_calls")
    body["id"] = f"{body['id']}-{step}"
    body["choices"][0]["message"]["tool_calls"] = [
        {
            "id": f"call_step{step}_{index}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        for index, (name, arguments) in enumerate(calls)
    ]
    return body


def conversation() -> list[dict[str, Any]]:
    """The model's four answers: lookups, then the risk assessment, then the refund, then the outcome."""
    case = {"customer_id": CUSTOMER, "order_id": ORDER, "amount_cents": AMOUNT_CENTS}
    final = recording("chat_final_text")
    final["choices"][0]["message"]["content"] = f"The refund for order {ORDER} was issued."
    return [
        recording("chat_tool_calls"),  # getCustomer + listRecentOrders, as recorded
        _tool_calls_reply(
            2, ("assessReturnException", {**case, "days_since_purchase": DAYS, "reason": REASON})
        ),
        _tool_calls_reply(3, ("createRefund", {**case, "currency": "USD", "reason": REASON})),
        final,
    ]


def recorded_usage(replies: list[dict[str, Any]]) -> int:
    return sum(r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] for r in replies)


@dataclass
class Run:
    """What one task left behind: its final view, its ledger and audit, the step queue's delivery
    counts by step, and the requests the model server received."""

    task: dict[str, Any]
    ledger: Ledger
    audit: list[AuditEvent]
    steps_delivered: dict[int, int]
    model_requests: list[dict[str, Any]]


def run_task(tmp_path: Path, name: str, replies: list[Reply], *dev_arguments: str) -> Run:
    """Start ``agentcage dev`` against ``replies``, run the return exception, approve the refund."""
    state = tmp_path / name
    budget_file = tmp_path / f"{name}-budget.yaml"
    budget_file.write_text(BUDGET_YAML)
    with ChatServer() as server:
        server.queue(*replies)
        env = dev_environment(
            **{
                MODEL_PROVIDER_ENV: "openai",
                MODEL_BASE_URL_ENV: f"{server.url}/v1",
                MODEL_DEPLOYMENT_ENV: MODEL,
                MODEL_TIMEOUT_ENV: str(MODEL_TIMEOUT_S),
                BUDGET_CONFIG_ENV: str(budget_file),
            }
        )
        dev = DevProcess(state, env, list(dev_arguments))
        try:
            client = AgentcageClient(dev.url)
            task_id = client.start_task(RETURN_REQUEST)["task_id"]
            pending = client.wait_settled(task_id, timeout_s=SETTLED_WITHIN_S)
            assert pending["state"] == "awaiting_approval", pending
            [approval] = pending["pending_approvals"]
            client.decide(approval["approval_id"], "approve")
            done = client.wait_settled(task_id, timeout_s=SETTLED_WITHIN_S)
        finally:
            dev.stop()
        assert not server.replies, "the conversation did not run to its end"
        requests = [r.body for r in server.requests]
    broker = DurableBroker(state / "queues.db", max_deliveries={}, lock_seconds={})
    try:
        delivered = {
            json.loads(m.body)["step"]: m.attempts
            for m in broker.messages(QueueKey("azure", AGENT_STEPS_QUEUE))
            if json.loads(m.body).get("task_id") == task_id
        }
    finally:
        broker.close()
    ledger = open_ledger("sqlite", path=state / "ledger.db")
    return Run(done, ledger, ledger.audit(task_id), delivered, requests)


def used(run: Run) -> Usage:
    return Usage.model_validate(run.task["budget"]["used"])


@pytest.fixture(scope="module")
def dynamodb_endpoint() -> Iterator[str]:
    # The timed-out run's data services write to this moto_server, so the test can count refunds.
    with moto_server() as endpoint:
        yield endpoint


def refunds_for(endpoint: str, order_id: str) -> int:
    response = dynamodb_client(endpoint).scan(
        TableName=DOMAIN_TABLE,
        FilterExpression="begins_with(PK, :refund) AND order_id = :order",
        ExpressionAttributeValues={":refund": {"S": "REFUND#"}, ":order": {"S": order_id}},
    )
    return int(response["Count"])


def test_a_model_timeout_mid_task_is_redelivered_and_resumes_with_nothing_done_twice(
    tmp_path: Path, dynamodb_endpoint: str
) -> None:
    replies = conversation()
    attempts = RetryPolicy().max_attempts
    hung = [Reply(200, replies[1], delay_s=HELD_S) for _ in range(attempts)]
    # (the two runs are independent hosts; side by side they take the time of the slower one)
    with ThreadPoolExecutor(max_workers=2) as pool:
        # GIVEN a clean run of the conversation: every model call answered at once
        clean_run = pool.submit(run_task, tmp_path, "clean", [Reply(200, r) for r in replies])
        # WHEN, in another run, the second model call times out on every attempt the provider makes
        # (its retries are exhausted, so the timeout reaches the queue), and the next delivery is answered
        timed_run = pool.submit(
            run_task,
            tmp_path,
            "timed",
            [Reply(200, replies[0]), *hung, *(Reply(200, r) for r in replies[1:])],
            "--dynamodb-endpoint",
            dynamodb_endpoint,
        )
        clean, timed = clean_run.result(), timed_run.result()
    # (the clean run: completed, each step delivered once, each successful call counted once)
    assert clean.task["state"] == "completed", clean.task
    assert set(clean.steps_delivered.values()) == {1}, clean.steps_delivered
    assert used(clean).tokens == recorded_usage(replies)
    assert (used(clean).model_steps, used(clean).tool_calls) == (4, 4)

    # THEN the task completes, and the step whose model call timed out was delivered twice
    assert timed.task["state"] == "completed", timed.task
    assert timed.steps_delivered[2] == 2, timed.steps_delivered
    assert all(n == 1 for step, n in timed.steps_delivered.items() if step != 2), timed.steps_delivered
    # (the coordinator retries, one provider attempt at a time: each timed-out attempt is one error)
    errors = [e for e in timed.audit if e.kind == "model_error"]
    assert [(e.step, e.data["code"], e.data["attempt"]) for e in errors] == [
        (2, ModelTimeoutError.code, n) for n in range(1, attempts + 1)
    ]
    assert errors[-1].data["retry_in_s"] is None  # the last attempt's timeout reached the queue
    # AND the redelivered step resumed from its checkpoint: the same conversation was sent again
    step2 = timed.model_requests[1 : 2 + attempts]
    assert len(step2) == attempts + 1
    assert all(r["messages"] == step2[-1]["messages"] for r in step2), "the retried step changed"
    assert [m["role"] for m in step2[-1]["messages"]].count("tool") == 2  # the two lookups' results
    # AND exactly one refund exists, and no tool request was executed twice
    assert refunds_for(dynamodb_endpoint, ORDER) == 1
    executed = Counter(str(e.data.get("request_id")) for e in timed.audit if e.kind == "tool_executed")
    assert len(executed) == 4, executed
    assert all(count == 1 for count in executed.values()), executed
    # AND the budget used is the clean run's plus exactly each timed-out attempt's charged upper bound:
    # every attempt has its own reservation, settled at its amounts when it fails (it may have been
    # processed and billed)
    charges = [e for e in timed.audit if e.kind == "model_call_charged"]
    assert len(charges) == attempts
    charged = Usage()
    for charge, error in zip(charges, errors, strict=True):
        assert charge.data["error"] == ModelTimeoutError.code, charge
        assert timed.audit.index(charge) == timed.audit.index(error) - 1  # charged as that attempt failed
        failed = timed.ledger.get_reservation(str(charge.data["reservation_id"]))
        assert (failed.kind, failed.status, failed.actual) == (
            "model",
            ReservationStatus.SETTLED,
            failed.amounts,
        )
        assert Usage.model_validate(charge.data["amounts"]) == failed.amounts
        assert failed.amounts.model_steps == 1
        assert min(failed.amounts.tokens, failed.amounts.cost_micro_usd) > 0
        charged = charged + failed.amounts
    assert used(timed) == used(clean) + charged
    limits = timed.task["budget"]["limits"]
    assert all(getattr(used(timed), k) <= limits[k] for k in ("tokens", "cost_micro_usd", "model_steps"))
