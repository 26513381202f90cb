"""Kill -9 ``agentcage dev`` inside an approved refund's call and restart it AT ONCE (issue 12, defect 5).

The executor has consumed the refund's reservation and spent its approval; the refund is not written.
The restarted host must not hand the request back before the executor's lease ends (it would be told to
stay queued on every delivery and dead-lettered): the killed process's lock runs out first, as an SQS
visibility timeout does, and the redelivery after the lease recovers the call. The refund is made
exactly once and the task completes, with nothing dead-lettered.

The kill point is arranged, not raced (:mod:`tests.integration.local.dynamodb_proxy`): the first
process reaches DynamoDB through a relay that holds the refund's requests once armed and drops them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.ledger import ReservationStatus, open_ledger
from agentcage.local.broker import DurableBroker, QueueKey
from agentcage.local.client import AgentcageClient
from agentcage.local.config import DEFAULT_TIME_SCALE, EXECUTOR_LEASE_FLOOR_S
from agentcage.local.demo import RETURN_REQUEST
from agentcage.topology import QUEUES, queue_spec
from tests.integration.local.conftest import DevProcess, dev_environment
from tests.integration.local.dynamodb_proxy import HELD_MARKER, HoldingProxy, refunds_for

QUIET = {"POWERTOOLS_LOG_LEVEL": "ERROR"}  # the dev process prints its URL line on stdout
REQUESTS = queue_spec(TOOL_REQUESTS_QUEUE, "aws")
WINDOW_S = REQUESTS.lock_seconds * DEFAULT_TIME_SCALE  # the local visibility timeout (12 s)
# The held request comes back one window after the kill at the latest and is recovered then (the
# window is four leases); the rest of the task is a few local steps. Bounded, generous under load.
RECOVERED_WITHIN_S = WINDOW_S + EXECUTOR_LEASE_FLOOR_S + 60
SETTLED_WITHIN_S = 120.0  # the first host plays the task to its approval: a bound, not a measurement


@pytest.mark.parametrize("attempt", range(2))
def test_a_refund_killed_mid_call_and_restarted_at_once_is_made_once_and_the_task_completes(
    tmp_path: Path, dynamodb_endpoint: str, proxy: HoldingProxy, attempt: int
) -> None:
    state = tmp_path / "state"
    first = DevProcess(state, dev_environment(**QUIET), ["--dynamodb-endpoint", proxy.url, "--reset-seed"])
    try:
        client = AgentcageClient(first.url)
        issued_before = refunds_for(dynamodb_endpoint, "O-50001")
        # GIVEN a refund task waiting for its approval
        task_id = client.start_task(RETURN_REQUEST, context={"scenario": "return_exception"})["task_id"]
        pending = client.wait_settled(task_id, timeout_s=SETTLED_WITHIN_S)
        assert pending["state"] == "awaiting_approval", pending
        # WHEN it is approved, its executor is held inside the refund's call, and the host is killed
        proxy.arm(HELD_MARKER)
        client.decide(pending["pending_approvals"][0]["approval_id"], "approve")
        proxy.wait_held(1, timeout_s=SETTLED_WITHIN_S)
        first.kill()
    finally:
        first.stop()
        proxy.release()  # the held requests are dropped: the dead process's call never lands
    # THEN at the kill the reservation was consumed, the refund neither executed nor issued
    at_kill = open_ledger("sqlite", path=state / "ledger.db")
    [request] = [
        e.data
        for e in at_kill.audit(task_id)
        if e.kind == "tool_request" and e.data.get("tool") == "createRefund"
    ]
    assert at_kill.get_reservation(request["reservation_id"]).status is ReservationStatus.CONSUMED
    assert refunds_for(dynamodb_endpoint, "O-50001") == issued_before

    # WHEN the host is started again at once, on the same state
    second = DevProcess(state, dev_environment(**QUIET), ["--dynamodb-endpoint", dynamodb_endpoint])
    try:
        done = AgentcageClient(second.url).wait_settled(task_id, timeout_s=RECOVERED_WITHIN_S)
    finally:
        second.stop()

    # THEN the task completed, the approved refund was made exactly once, and the model was told so
    assert done["state"] == "completed", done
    assert refunds_for(dynamodb_endpoint, "O-50001") == issued_before + 1
    assert "was issued" in str(done["final_answer"]), done["final_answer"]
    # AND the killed call was recovered once, by a delivery after the lease, and executed once
    ledger = open_ledger("sqlite", path=state / "ledger.db")
    events = ledger.audit(task_id)
    recovered = [e.data for e in events if e.kind == "tool_recovered"]
    assert [r["request_id"] for r in recovered] == [request["message_id"]], recovered
    executed = [e.data for e in events if e.kind == "tool_executed" and e.data.get("tool") == "createRefund"]
    assert len(executed) == 1, executed
    # AND nothing was dead-lettered or answered as a replay
    assert "dead_lettered" not in [e.kind for e in events]
    assert all(e.data.get("error") != "replay" for e in events if e.kind == "tool_denied")
    broker = DurableBroker(
        state / "queues.db",
        max_deliveries={QueueKey(s.cloud, s.name): s.max_deliveries for s in QUEUES},
        lock_seconds={QueueKey(s.cloud, s.name): s.lock_seconds for s in QUEUES},
    )
    try:
        assert all(counts["dead"] == 0 for counts in broker.counts().values()), broker.counts()
        [refund_message] = [
            m
            for m in broker.messages(QueueKey("aws", TOOL_REQUESTS_QUEUE))
            if request["message_id"] in m.body
        ]
        assert (refund_message.state, refund_message.attempts) == ("completed", 2)
    finally:
        broker.close()
