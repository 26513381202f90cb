"""Kill -9 ``agentcage dev`` mid-task, start it again on the same state: the task resumes, nothing lost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcage.ledger import open_ledger
from agentcage.ledger.testing import dynamodb_client, moto_server
from agentcage.local.client import AgentcageClient
from agentcage.local.config import DOMAIN_TABLE
from agentcage.local.demo import RETURN_REQUEST
from tests.integration.local.conftest import DevProcess, dev_environment


@pytest.fixture(scope="module")
def dynamodb_endpoint() -> Iterator[str]:
    # The data services' tables outlive the dev process, as DynamoDB outlives a Lambda.
    with moto_server() as endpoint:
        yield endpoint


def refunds_for(endpoint: str, order_id: str) -> int:
    response = dynamodb_client(endpoint).scan(
        TableName=DOMAIN_TABLE,
        FilterExpression="begins_with(PK, :refund) AND order_id = :order",
        ExpressionAttributeValues={":refund": {"S": "REFUND#"}, ":order": {"S": order_id}},
    )
    return int(response["Count"])


def test_a_killed_host_resumes_its_tasks_from_sqlite_with_nothing_executed_twice(
    tmp_path: Path, dynamodb_endpoint: str
) -> None:
    state = tmp_path / "state"
    arguments = ["--dynamodb-endpoint", dynamodb_endpoint]
    first = DevProcess(state, dev_environment(), arguments)
    try:
        client = AgentcageClient(first.url)
        # GIVEN a refund task waiting for its approval, and a second task just started
        refund_task = client.start_task(RETURN_REQUEST, context={"scenario": "return_exception"})["task_id"]
        pending = client.wait_settled(refund_task)
        assert pending["state"] == "awaiting_approval"
        client.decide(pending["pending_approvals"][0]["approval_id"], "approve")
        lookup_task = client.start_task("Fetch customer C-1001.", context={"scenario": "hallucinate"})[
            "task_id"
        ]
        # WHEN the process is killed without any chance to clean up (messages queued and in flight)
        first.kill()
    finally:
        first.stop()
    second = DevProcess(state, dev_environment(), arguments)
    try:
        client = AgentcageClient(second.url)
        # THEN both tasks finish after the restart
        done = client.wait_settled(refund_task)
        assert done["state"] == "completed", done
        assert client.wait_settled(lookup_task)["state"] == "completed"
    finally:
        second.stop()
    # AND the approved refund was issued exactly once, and the task says so. (A kill between the
    # executor consuming the reservation and storing the result is recovered on redelivery: locally
    # the executor's lease is the retry delay, and a restart takes longer than that.)
    assert refunds_for(dynamodb_endpoint, "O-50001") == 1
    assert "was issued" in str(done["final_answer"]), done["final_answer"]
    assert "replay" not in str(done["final_answer"]), done["final_answer"]
    ledger = open_ledger("sqlite", path=state / "ledger.db")
    for task_id in (refund_task, lookup_task):
        events = ledger.audit(task_id)
        executed = Counter(str(e.data.get("request_id")) for e in events if e.kind == "tool_executed")
        recovered = Counter(str(e.data.get("request_id")) for e in events if e.kind == "tool_recovered")
        assert executed, events
        assert all(count == 1 for count in recovered.values()), recovered
        # Once, unless the kill landed after the call and before its result was stored: then the
        # recovery ran it once more (a read, or the refund under its idempotency key), never a third time.
        twice = {request for request, count in executed.items() if count > 1}
        assert all(executed[request] == 2 for request in twice), executed
        assert twice <= set(recovered), (executed, recovered)
    # ... and the refund's request was never answered `replay` (its one copy was recovered, if need be)
    denied = [e.data for e in ledger.audit(refund_task) if e.kind == "tool_denied"]
    assert all(d.get("error") != "replay" for d in denied), denied
