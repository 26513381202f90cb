"""The dead-letters drain and the executor answering the same request: one truthful outcome.

A request can reach both: one copy dead-lettered (say the ledger failed on every receive), another copy
of the same request (a second send of the bridge) delivered to the executor. The drain may answer "did
not run" only when nothing can run the call any more: it releases the reservation first, so the
executor's copy finds it spent and executes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.ledger import ReservationStatus
from agentcage.topology import dead_letter_queue
from functions.aws import dead_letters, tool_executor
from functions.aws.executor import SqsResultPublisher
from tests.functional.aws.executor.executor_support import ExecutorWorld, batch, body_of, record_for


def _dead_lettered(record: dict[str, Any]) -> dict[str, Any]:
    """The same SQS record as the tool-requests DLQ hands it to the drain."""
    dead = copy.deepcopy(record)
    queue = dead_letter_queue(TOOL_REQUESTS_QUEUE).name
    dead["eventSourceARN"] = f"arn:aws:sqs:us-east-1:123456789012:{queue}"
    return dead


def test_a_request_the_drain_answered_did_not_run_never_runs_from_another_copy(
    world: ExecutorWorld,
) -> None:
    # GIVEN an approved refund request, one copy dead-lettered and answered by the drain
    record = world.prepare(record_for("sqs_tool_requests_returns", "createRefund"))
    body = body_of(record)
    results = SqsResultPublisher(world.results_url, client=world.sqs)
    outcome = dead_letters.handle_record(
        _dead_lettered(record), store=world.ledger, results=results, now=world.clock
    )
    assert outcome == "answered"

    # WHEN another copy of the same request reaches the executor
    assert tool_executor.process_batch(batch(record), tool_executor=world.executor) == {
        "batchItemFailures": []
    }

    # THEN the refund was not made, the approval not spent, the reservation given back
    assert world.transport.count("createRefund") == 0
    assert world.ledger.get_approval(body["approval_id"]).used_at is None
    reservation = world.ledger.get_reservation(body["reservation_id"])
    assert reservation.consumed_at is None
    assert reservation.status is ReservationStatus.RELEASED
    # AND every answer sent is the one kept: it did not run
    answers = [delivered.result for delivered in world.results()]
    assert len(answers) == 2
    assert answers[0] == answers[1]
    assert answers[0].error is not None
    assert answers[0].error.message.endswith("it was dead-lettered and did not run")


def test_a_request_the_executor_consumed_first_is_never_said_not_to_have_run(
    world: ExecutorWorld,
) -> None:
    # GIVEN a request whose reservation the executor consumed, and that has no answer yet
    record = world.prepare(record_for("sqs_tool_requests_returns", "createRefund"))
    body = body_of(record)
    world.ledger.consume(body["reservation_id"])

    # WHEN the drain answers its dead-lettered copy
    results = SqsResultPublisher(world.results_url, client=world.sqs)
    dead_letters.handle_record(_dead_lettered(record), store=world.ledger, results=results, now=world.clock)

    # THEN the answer says the outcome is unknown, and the reservation stays consumed
    [delivered] = world.results()
    assert delivered.result.error is not None
    assert "whether it ran is unknown" in delivered.result.error.message
    assert world.ledger.get_reservation(body["reservation_id"]).status is ReservationStatus.CONSUMED
