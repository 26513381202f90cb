"""Kill -9 ``agentcage dev`` mid-task, start it again on the same state: the task resumes, nothing lost.

The kill point is arranged, not raced: the first process reaches DynamoDB through a proxy in this test
that holds every request naming customer C-1001 once armed. So when the process is killed, the approved
refund's executor is inside its call (the refund not written) and the lookup task is waiting on its read,
both tasks provably unfinished (the ledger after a SIGKILL is exactly the ledger at the kill). The held
requests are dropped, never forwarded, so only the restarted process can issue the refund.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from agentcage.ledger import open_ledger
from agentcage.local.client import AgentcageClient
from agentcage.local.config import DEFAULT_TIME_SCALE, EXECUTOR_LEASE_FLOOR_S
from agentcage.local.demo import RETURN_REQUEST
from agentcage.topology import QUEUES
from tests.integration.local.conftest import DevProcess, dev_environment
from tests.integration.local.dynamodb_proxy import HELD_MARKER, HoldingProxy, refunds_for

# The Lambdas' powertools logs go to stdout, where the dev process prints its URL line: the restarted
# process logs the recovery of the killed call (a warning) as it starts, so warnings are kept out.
QUIET = {"POWERTOOLS_LOG_LEVEL": "ERROR"}
# Upper bounds for a loaded 2-core machine, not measurements. The first host plays the task to its
# approval; after the restart the killed process's messages come back when their locks run out (the
# longest queue window, scaled), and the tasks then take a few local steps.
SETTLED_WITHIN_S = 120.0
RESUMED_WITHIN_S = max(s.lock_seconds for s in QUEUES) * DEFAULT_TIME_SCALE + SETTLED_WITHIN_S


@pytest.mark.parametrize("attempt", range(5))
def test_a_killed_host_resumes_its_tasks_from_sqlite_with_nothing_executed_twice(
    tmp_path: Path, dynamodb_endpoint: str, proxy: HoldingProxy, attempt: int
) -> None:
    state = tmp_path / "state"
    # (One DynamoDB for all attempts: the seed is restored so the order can be refunded again.)
    first = DevProcess(state, dev_environment(**QUIET), ["--dynamodb-endpoint", proxy.url, "--reset-seed"])
    try:
        client = AgentcageClient(first.url)
        issued_before = refunds_for(dynamodb_endpoint, "O-50001")
        # GIVEN a refund task waiting for its approval
        refund_task = client.start_task(RETURN_REQUEST, context={"scenario": "return_exception"})["task_id"]
        pending = client.wait_settled(refund_task, timeout_s=SETTLED_WITHIN_S)
        assert pending["state"] == "awaiting_approval"
        # WHEN it is approved, its executor is held inside the refund's call, a second task is held
        # inside its lookup, and the process is killed there without any chance to clean up
        proxy.arm(HELD_MARKER)
        client.decide(pending["pending_approvals"][0]["approval_id"], "approve")
        proxy.wait_held(1, timeout_s=SETTLED_WITHIN_S)
        lookup_task = client.start_task("Fetch customer C-1001.", context={"scenario": "hallucinate"})[
            "task_id"
        ]
        proxy.wait_held(2, timeout_s=SETTLED_WITHIN_S)
        first.kill()
        killed_at = time.monotonic()
    finally:
        first.stop()
        proxy.release()  # the held requests are dropped: the dead process's calls never land
    # THEN at the kill both tasks were unfinished: the refund requested, not executed, not issued
    at_kill = open_ledger("sqlite", path=state / "ledger.db")
    assert at_kill.get_task(refund_task).state.value == "running"
    assert at_kill.get_task(lookup_task).state.value == "running"
    killed_audit = at_kill.audit(refund_task)
    assert [e for e in killed_audit if e.kind == "tool_request" and e.data.get("tool") == "createRefund"]
    assert not [e for e in killed_audit if e.kind == "tool_executed" and e.data.get("tool") == "createRefund"]
    assert not [
        e for e in at_kill.audit(lookup_task) if e.kind == "tool_executed" and e.data.get("status") == "ok"
    ]
    assert refunds_for(dynamodb_endpoint, "O-50001") == issued_before
    # Restart once the executor's local lease has passed since the kill. (Restarting at once is
    # test_local_crash_recovery: the held requests then come back when their visibility timeouts end.)
    time.sleep(max(0.0, EXECUTOR_LEASE_FLOOR_S + 0.2 - (time.monotonic() - killed_at)))
    second = DevProcess(state, dev_environment(**QUIET), ["--dynamodb-endpoint", dynamodb_endpoint])
    try:
        client = AgentcageClient(second.url)
        # AND both tasks finish after the restart
        done = client.wait_settled(refund_task, timeout_s=RESUMED_WITHIN_S)
        assert done["state"] == "completed", done
        assert client.wait_settled(lookup_task, timeout_s=RESUMED_WITHIN_S)["state"] == "completed"
    finally:
        second.stop()
    # AND the approved refund was issued exactly once, and the task says so. (The killed attempt had
    # consumed the reservation and stored no result: it is recovered on its redelivery after the lease.)
    assert refunds_for(dynamodb_endpoint, "O-50001") == issued_before + 1
    assert "was issued" in str(done["final_answer"]), done["final_answer"]
    assert "replay" not in str(done["final_answer"]), done["final_answer"]
    ledger = open_ledger("sqlite", path=state / "ledger.db")
    for task_id in (refund_task, lookup_task):
        events = ledger.audit(task_id)
        executed = Counter(str(e.data.get("request_id")) for e in events if e.kind == "tool_executed")
        recovered = Counter(str(e.data.get("request_id")) for e in events if e.kind == "tool_recovered")
        # The held call was killed after its reservation was consumed, so its redelivery was recovered
        # (once); it had not reached the service, so every request executed exactly once.
        assert recovered, events
        assert all(count == 1 for count in recovered.values()), recovered
        assert executed, events
        assert all(count == 1 for count in executed.values()), executed
        assert set(recovered) <= set(executed), (recovered, executed)
    # ... and the refund's request was never answered `replay` (its one copy was recovered, if need be)
    denied = [e.data for e in ledger.audit(refund_task) if e.kind == "tool_denied"]
    assert all(d.get("error") != "replay" for d in denied), denied
