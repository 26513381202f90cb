"""The local runtime end to end: approvals nobody decides expire on the host's timer, and a tool request
the executor cannot verify reaches the dead-letters Lambda, which ends no task for it."""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
from collections.abc import Iterator

import pytest

from agentcage.federation import role_session_name
from agentcage.local import LocalConfig, LocalHost, QueueKey
from agentcage.local.client import FINAL_STATES, AgentcageClient
from agentcage.local.demo import RETURN_REQUEST
from agentcage.topology import queue_spec

pytestmark = pytest.mark.integration

TIME_SCALE = 1 / 45
REQUESTS = queue_spec("tool-requests", "aws")
# Five receives, each after the last one's visibility timeout, then the dead-letters Lambda: bounded by
# the scaled windows, with room for a loaded machine.
DEAD_LETTERED_WITHIN_S = REQUESTS.max_deliveries * REQUESTS.lock_seconds * TIME_SCALE + 20
FLOW_TIMEOUT_S = 120.0  # an upper bound for a loaded 2-core machine, not a measurement


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """A host whose timers tick every 100 ms, whose approvals expire after one second, and whose queue
    windows are a third of the default's (an SQS message failing every delivery waits each one out)."""
    state = tmp_path_factory.mktemp("agentcage-dead-ends")
    config = LocalConfig(state_dir=state, port=0, retry_delay_s=0.02, time_scale=TIME_SCALE)
    started = LocalHost(config, timer_interval_s=0.1)
    started.start()
    try:
        runtime = importlib.import_module("runtime").get_runtime()  # the coordinator the host installed
        settings = runtime.coordinator.settings
        runtime.coordinator.settings = dataclasses.replace(settings, approval_ttl_seconds=1)
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def client(host: LocalHost) -> AgentcageClient:
    return AgentcageClient(host.url)


def test_the_host_timer_expires_an_approval_nobody_decides(host: LocalHost, client: AgentcageClient) -> None:
    # GIVEN a refund that waits for a person who never comes. (Not polled for while it waits: on a
    # loaded machine its one-second approval can expire before a poll sees it pending.)
    task_id = client.start_task(RETURN_REQUEST, context={"scenario": "return_exception"})["task_id"]

    # WHEN its expiry passes and the host's timer runs
    task = client.wait_for(task_id, lambda t: t["state"] in FINAL_STATES, timeout_s=FLOW_TIMEOUT_S)

    # THEN the approval expired, the model heard it, and the task finished without the refund
    assert task["state"] == "completed", task
    [refund] = [c for s in task["steps"] for c in s["calls"] if c["tool"] == "createRefund"]
    assert refund["approval_id"], refund
    assert client.get_approval(refund["approval_id"])["status"] == "expired"
    assert refund["result"]["content"]["error"]["code"] == "approval_expired"
    audit = host.ledger().audit(task_id)
    assert "approval_expiry_sweep" in [e.kind for e in audit]
    executed = [e.data["tool"] for e in audit if e.kind == "tool_executed"]
    assert executed  # the lookups ran
    assert "createRefund" not in executed
    assert host.health()["invocations"]["expire_approvals"]["invocations"] >= 1


def test_a_request_nothing_vouches_for_reaches_the_dead_letters_lambda_and_ends_no_task(
    host: LocalHost, client: AgentcageClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (its approval must outlive the deliveries, each a visibility timeout apart)
    coordinator = importlib.import_module("runtime").get_runtime().coordinator
    monkeypatch.setattr(
        coordinator, "settings", dataclasses.replace(coordinator.settings, approval_ttl_seconds=3600)
    )
    # GIVEN a running task, and a body naming it, sent by its own session, that names no reservation:
    # nothing in the ledger vouches for it, so the executor answers nothing on any delivery
    task_id = client.start_task(RETURN_REQUEST, context={"scenario": "return_exception"})["task_id"]
    assert client.wait_settled(task_id)["state"] == "awaiting_approval"
    assert host.broker is not None
    sender = {"attributes": {"SenderId": f"AROA000000000000LOCAL:{role_session_name(task_id)}"}}
    host.broker.send(
        QueueKey("aws", "tool-requests"),
        json.dumps({"task_id": task_id, "schema_version": 1}),
        properties=sender,
    )

    # WHEN SQS gives up on it, and the dead-letters Lambda has seen it
    deadline = time.monotonic() + DEAD_LETTERED_WITHIN_S + FLOW_TIMEOUT_S
    while not host.broker.messages(QueueKey("aws", "tool-requests-dlq"), state="completed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    # THEN it was dead-lettered after its deliveries, and the Lambda logged it for a person and removed
    # it: the task a garbage body names is not ended, nothing about it was answered or audited on the task
    [dead] = [
        m for m in host.broker.messages(QueueKey("aws", "tool-requests"), state="dead") if task_id in m.body
    ]
    assert dead.attempts == 5
    task = client.get_task(task_id)
    assert task["state"] == "awaiting_approval", task
    assert [e for e in host.ledger().audit(task_id) if e.kind == "dead_lettered"] == []
    assert host.health()["invocations"]["dead-letters"]["invocations"] >= 1
