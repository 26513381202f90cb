"""The executor re-checks the requester a request carries against the ledger's task, and Cedar caps the
call by the ledger's requester, never the message's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentcage.budget import BudgetLimits
from agentcage.envelopes import RequesterClaim
from agentcage.ledger import Requester, ReservationStatus
from functions.aws import tool_executor
from tests.functional.aws.executor.executor_support import (
    ExecutorWorld,
    batch,
    body_of,
    record_for,
    with_body,
)
from tests.functional.aws.executor.test_executor_gate_on_receipt import _left_unanswered

RETURNS = "sqs_tool_requests_returns"
VOLUMES = "sqs_tool_requests_volumes"


@pytest.mark.parametrize(
    "claimed",
    [
        {"kind": "person", "id": "someone-else", "roles": ["service_rep", "operations"]},
        {"kind": "person", "id": "rep-oid-0", "roles": ["finance", "operations", "service_rep"]},
        None,
    ],
    ids=["another_person", "more_roles", "no_requester"],
)
def test_a_request_speaking_for_another_requester_is_not_answered(
    world: ExecutorWorld,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    claimed: dict | None,
) -> None:
    # GIVEN a genuine request of a task in the ledger, its requester claim changed (only that)
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    forged = with_body(record, body_of(record) | {"requester": claimed})

    # WHEN it arrives
    # THEN the ledger's requester is the authority: refused like any claim that does not verify
    _left_unanswered(world, forged, "sender_mismatch", capsys, caplog)
    assert world.ledger.get_reservation(body_of(record)["reservation_id"]).status is ReservationStatus.ACTIVE


def test_the_same_request_with_its_true_requester_runs(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))

    response = tool_executor.process_batch(batch(record), tool_executor=world.executor)

    assert response == {"batchItemFailures": []}
    [delivered] = world.results()
    assert delivered.result.status == "ok"


@pytest.mark.parametrize(
    ("roles", "status"),
    [(("service_rep",), "denied"), (("service_rep", "operations"), "ok")],
    ids=["owns_no_environment", "owns_dev"],
)
def test_the_janitors_delete_runs_only_in_environments_the_ledgers_requester_owns(
    world: ExecutorWorld, roles: tuple[str, ...], status: str
) -> None:
    # GIVEN a janitor task run for a requester with ``roles`` (operations owns dev by default), and its
    # approved delete of a volume tagged env=dev, carrying that requester truthfully
    requester = Requester(kind="person", id="ops-oid-7", name="Olga", roles=roles)
    world.ledger.create_task(
        task_id="task-janitor-0001",
        agent_id="janitor-agent",
        environment="dev",
        request="clean up",
        limits=BudgetLimits(
            tokens=1000, cost_micro_usd=1_000_000, model_steps=5, tool_calls=5,
            deadline=world.clock() + timedelta(hours=1),
        ),
        requester=requester,
    )  # fmt: skip
    world.ledger.transition("task-janitor-0001", "running")
    world.tasks.add("task-janitor-0001")
    claim = RequesterClaim.of(requester)
    assert claim is not None
    record = world.prepare(
        record_for(VOLUMES, "deleteVolume"), approve=True, requester=claim.model_dump(mode="json")
    )

    # WHEN it arrives
    response = tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN Cedar decides with the ledger's requester: a requester owning no environment deletes nothing
    assert response == {"batchItemFailures": []}
    [delivered] = world.results()
    assert delivered.result.status == status, delivered.result
    assert world.transport.count("deleteVolume") == (1 if status == "ok" else 0)
    if status == "denied":
        assert delivered.result.error is not None
        assert delivered.result.error.code == "policy_denied"
        assert "environments its requester owns" in delivered.result.error.message
