"""Lambda dead-letters against DynamoDB and SQS in moto: every dead letter ends with a recorded outcome.

A dead-lettered request the ledger vouches for is answered ``dead_lettered`` through the results
queue, the answer kept in the ledger first (or with the result the executor kept before it could not
send it); a dead-lettered result the executor kept ends its task ``failed``; an unreadable request
whose sender and reservation verify ends its task. Anything the ledger does not vouch for (a forged
request, a result nobody kept, a garbage body naming a task) stays in the DLQ, unanswered, and no
task ends. The handler uses exactly the DynamoDB actions infra grants its role.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agentcage.budget.limits import BudgetLimits, Usage
from agentcage.constants import (
    LEDGER_BACKEND_ENV,
    LEDGER_TABLE_ENV,
    RESULT_SENDER_ROLE_IDS_ENV,
    TOOL_RESULTS_QUEUE_URL_ENV,
)
from agentcage.envelopes import ToolRequest, ToolResult, args_digest, dump_envelope, parse_envelope
from agentcage.federation import role_session_name
from agentcage.ledger import ClaimScope, TaskState
from agentcage.ledger.answers import keep_answer, kept_answer, kept_answers
from agentcage.ledger.dynamodb import DynamoDBLedger
from agentcage.ledger.dynamodb_items import create_ledger_table
from agentcage.ledger.testing import dynamodb_client, serialize_moto_dynamodb
from agentcage.monitoring_names import (
    METRIC_DIMENSION_REASON,
    METRIC_UNREADABLE_MESSAGES,
    METRIC_UNVOUCHED_MESSAGES,
)
from agentcage.trace import TraceContext
from functions.aws import dead_letters
from functions.aws.executor import SqsResultPublisher, result_message_id
from functions.aws.executor.transport import LocalLambdaContext
from infra.iam import DEAD_LETTERS_LEDGER_ACTIONS

TABLE = "agentcage-test-ledger"
PREFIX = "agentcage-test"
TRACE = TraceContext.new()


@dataclass
class World:
    ledger: DynamoDBLedger
    sqs: Any
    results_url: str

    def results(self) -> list[ToolResult]:
        found = self.sqs.receive_message(QueueUrl=self.results_url, MaxNumberOfMessages=10)
        return [parse_envelope(ToolResult, m["Body"]) for m in found.get("Messages", [])]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The ledger table and the results queue in moto, and the environment infra gives the Lambda."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(LEDGER_BACKEND_ENV, "dynamodb")
    monkeypatch.setenv(LEDGER_TABLE_ENV, TABLE)
    dead_letters.ledger.cache_clear()
    dead_letters.publisher.cache_clear()
    with mock_aws(), serialize_moto_dynamodb():
        create_ledger_table(dynamodb_client(), TABLE)
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName=f"{PREFIX}-tool-results")["QueueUrl"]
        monkeypatch.setenv(TOOL_RESULTS_QUEUE_URL_ENV, url)
        yield World(DynamoDBLedger(TABLE, client=dynamodb_client()), sqs, url)
    dead_letters.ledger.cache_clear()
    dead_letters.publisher.cache_clear()


def new_task(ledger: DynamoDBLedger) -> str:
    now = datetime.now(UTC)
    task = ledger.create_task(
        agent_id="returns-agent",
        environment="dev",
        request="refund order O-1001",
        limits=BudgetLimits(
            tokens=10_000,
            cost_micro_usd=50_000,
            model_steps=10,
            tool_calls=10,
            deadline=now + timedelta(hours=1),
        ),
        traceparent=TRACE.traceparent,
    )
    ledger.transition(task.task_id, TaskState.RUNNING)
    return task.task_id


def tool_request(ledger: DynamoDBLedger, task_id: str) -> ToolRequest:
    args = {"customer_id": "C-1001"}
    reservation = ledger.reserve(
        task_id,
        Usage(tool_calls=1),
        kind="tool",
        tool="getCustomer",
        args_digest=args_digest(args),
        agent_id="returns-agent",
    )
    return ToolRequest(
        message_id=f"{task_id}.req-1",
        task_id=task_id,
        step=1,
        agent_id="returns-agent",
        tool="getCustomer",
        args=args,
        args_digest=args_digest(args),
        reservation_id=reservation.reservation_id,
        traceparent=TRACE.child().traceparent,
        issued_at=reservation.created_at,
        expires_at=reservation.expires_at,
    )


def tool_result(task_id: str, request_id: str = "req-9", reservation_id: str = "r-9") -> ToolResult:
    return ToolResult(
        message_id=result_message_id(request_id, reservation_id),
        request_id=request_id,
        task_id=task_id,
        step=1,
        tool="getCustomer",
        status="ok",
        result={"customer_id": "C-1001"},
        traceparent=TRACE.child().traceparent,
        completed_at=datetime.now(UTC),
    )


def kept_result(ledger: DynamoDBLedger, task_id: str, request_id: str = "req-9") -> ToolResult:
    """A result the executor answered a request with, kept in the ledger before it was sent."""
    reservation = ledger.reserve(task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
    result = tool_result(task_id, request_id, reservation.reservation_id)
    keep_answer(ledger, result, reservation_id=reservation.reservation_id, trace_id=None)
    return result


def record(body: str, dlq: str, *, message_id: str = "sqs-1", sender: str | None = None) -> dict[str, Any]:
    """An SQS record as the event source mapping of a DLQ hands it over; by default sent by the session
    of the task its body names (as the coordinator's bridge sends requests)."""
    if sender is None:
        try:
            sender = f"AROAEXAMPLE:{role_session_name(json.loads(body)['task_id'])}"
        except (ValueError, KeyError, TypeError):
            sender = "AROAEXAMPLE:unknown"
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "SenderId": sender,
            "ApproximateFirstReceiveTimestamp": "1700000000000",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{PREFIX}-{dlq}",
        "awsRegion": "us-east-1",
    }


def run(*records: dict[str, Any]) -> dict[str, Any]:
    """The Lambda entry point, as the event source mapping calls it."""
    response = dead_letters.handler({"Records": list(records)}, LocalLambdaContext("dead-letters", 30_000))
    return dict(response)


def dead_letter_events(ledger: DynamoDBLedger, task_id: str) -> list[dict[str, Any]]:
    return [e.data for e in ledger.audit(task_id) if e.kind == "dead_lettered"]


def test_a_dead_lettered_request_is_answered_dead_lettered_and_audited(world: World) -> None:
    # GIVEN a request the executor failed on every delivery (nothing ran, nothing stored)
    task_id = new_task(world.ledger)
    request = tool_request(world.ledger, task_id)

    # WHEN its DLQ hands it to the Lambda
    response = run(
        record(dump_envelope(request), "tool-requests-dlq", sender=f"AROAX:{role_session_name(task_id)}")
    )

    # THEN the coordinator is sent an error result for exactly that request, on the task's trace
    assert response == {"batchItemFailures": []}
    [answer] = world.results()
    assert (answer.request_id, answer.task_id, answer.step, answer.tool) == (
        request.message_id,
        task_id,
        1,
        "getCustomer",
    )
    # the id every answer carries, which only a holder of the reservation id can derive
    assert answer.message_id == result_message_id(request.message_id, request.reservation_id)
    assert answer.status == "error"
    assert answer.error is not None
    assert answer.error.code == "dead_lettered"
    assert answer.trace.trace_id == TRACE.trace_id
    # AND the dead letter is in the task's audit log; the task itself goes on (the model decides)
    [event] = dead_letter_events(world.ledger, task_id)
    assert event["outcome"] == "answered"
    assert event["request_id"] == request.message_id
    assert event["queue"] == "tool-requests-dlq"
    assert world.ledger.get_task(task_id).state is TaskState.RUNNING
    # AND the answer was kept in the ledger before it was sent (the coordinator records only that)
    assert (
        kept_answer(
            world.ledger, task_id, request_id=request.message_id, reservation_id=request.reservation_id
        )
        == answer
    )


def test_a_dead_lettered_request_whose_result_was_stored_sends_that_result(world: World) -> None:
    # GIVEN a request the executor ran, storing its result before the results queue refused it
    task_id = new_task(world.ledger)
    request = tool_request(world.ledger, task_id)
    stored = tool_result(task_id, request.message_id, request.reservation_id)
    assert keep_answer(world.ledger, stored, reservation_id=request.reservation_id) == stored

    # WHEN the request is dead-lettered
    assert run(record(dump_envelope(request), "tool-requests-dlq")) == {"batchItemFailures": []}

    # THEN the real result goes to the coordinator, not a made-up error
    [answer] = world.results()
    assert answer == stored
    assert dead_letter_events(world.ledger, task_id)[0]["outcome"] == "resent_stored"


def _consumed(ledger: DynamoDBLedger, request: ToolRequest) -> None:
    ledger.consume(request.reservation_id)


def _consumed_then_swept(ledger: DynamoDBLedger, request: ToolRequest) -> None:
    ledger.consume(request.reservation_id)
    assert ledger.expire_stale(request.expires_at + timedelta(seconds=1), task_id=request.task_id) == 1


def _recovery_claimed(ledger: DynamoDBLedger, request: ToolRequest) -> None:
    assert ledger.claim(
        request.task_id, ClaimScope.RECOVERY, request.reservation_id, claimant=request.message_id
    ).won


@pytest.mark.parametrize(
    "started",
    [_consumed, _consumed_then_swept, _recovery_claimed],
    ids=["reservation-consumed", "consumed-then-swept", "recovery-claimed"],
)
def test_a_dead_lettered_request_that_may_have_run_says_its_outcome_is_unknown(
    world: World, started: Callable[[DynamoDBLedger, ToolRequest], None]
) -> None:
    # GIVEN a request an attempt started (its reservation consumed, or its recovery claimed), no result
    task_id = new_task(world.ledger)
    request = tool_request(world.ledger, task_id)
    started(world.ledger, request)

    # WHEN it is dead-lettered
    assert run(record(dump_envelope(request), "tool-requests-dlq")) == {"batchItemFailures": []}

    # THEN the model is told the outcome is unknown, never that the call did not run
    [answer] = world.results()
    assert answer.error is not None
    assert answer.error.code == "dead_lettered"
    assert "whether it ran is unknown" in answer.error.message
    assert "did not run" not in answer.error.message


def test_a_dead_lettered_request_nothing_started_says_it_did_not_run(world: World) -> None:
    task_id = new_task(world.ledger)
    request = tool_request(world.ledger, task_id)  # reserved, never consumed

    assert run(record(dump_envelope(request), "tool-requests-dlq")) == {"batchItemFailures": []}

    [answer] = world.results()
    assert answer.error is not None
    assert answer.error.message.endswith("it was dead-lettered and did not run")
    assert "unknown" not in answer.error.message


@pytest.mark.parametrize(
    ("reserved_ago", "expected"),
    [
        (timedelta(days=1), "it was dead-lettered and did not run"),
        (timedelta(0), "whether it ran is unknown"),
    ],
    ids=["active-past-its-expiry", "active-unexpired"],
)
def test_a_dead_lettered_request_whose_release_is_refused_says_did_not_run_only_once_expired(
    world: World, monkeypatch: pytest.MonkeyPatch, reserved_ago: timedelta, expected: str
) -> None:
    # GIVEN a request whose reservation is still ACTIVE and unconsumed, reserved a day ago (past its
    # expiry, so the ledger's rule lets nothing consume it) or just now
    from agentcage.errors import ReservationStateError

    task_id = new_task(world.ledger)
    reserved_at = datetime.now(UTC) - reserved_ago
    with monkeypatch.context() as clock:
        clock.setattr(world.ledger, "now", lambda: reserved_at)
        request = tool_request(world.ledger, task_id)

    # AND the ledger refuses to release it (a backend or a race that leaves it ACTIVE)
    def refuse(self: DynamoDBLedger, reservation_id: str) -> None:
        raise ReservationStateError(f"reservation {reservation_id} was not released")

    monkeypatch.setattr(DynamoDBLedger, "release", refuse)

    # WHEN it is dead-lettered
    assert run(record(dump_envelope(request), "tool-requests-dlq")) == {"batchItemFailures": []}

    # THEN an expired one certainly did not run; one that may still be consumed is "unknown"
    [answer] = world.results()
    assert answer.error is not None
    assert expected in answer.error.message
    assert world.ledger.get_reservation(request.reservation_id).status.value == "active"


def test_a_dead_lettered_request_whose_reservation_was_answered_sends_only_the_kept_answer(
    world: World,
) -> None:
    # GIVEN a request whose reservation was answered under another request id (a copy resent with a
    # fresh message id), its own id answered nothing
    task_id = new_task(world.ledger)
    request = tool_request(world.ledger, task_id)
    other = tool_result(task_id, f"{task_id}.req-other", request.reservation_id)
    assert keep_answer(world.ledger, other, reservation_id=request.reservation_id) == other

    # WHEN the request is dead-lettered
    assert run(record(dump_envelope(request), "tool-requests-dlq")) == {"batchItemFailures": []}

    # THEN what is sent is what the ledger keeps, never an answer nobody kept
    [answer] = world.results()
    assert answer == other


def test_a_dead_lettered_request_said_not_to_run_gives_its_reservation_back(world: World) -> None:
    task_id = new_task(world.ledger)
    request = tool_request(world.ledger, task_id)

    assert run(record(dump_envelope(request), "tool-requests-dlq")) == {"batchItemFailures": []}

    # the executor can no longer consume it: "did not run" stays true
    reservation = world.ledger.get_reservation(request.reservation_id)
    assert (reservation.status.value, reservation.consumed_at) == ("released", None)


def test_a_dead_lettered_request_swept_unconsumed_says_it_did_not_run(world: World) -> None:
    task_id = new_task(world.ledger)
    request = tool_request(world.ledger, task_id)
    assert world.ledger.expire_stale(request.expires_at + timedelta(seconds=1), task_id=task_id) == 1

    assert run(record(dump_envelope(request), "tool-requests-dlq")) == {"batchItemFailures": []}

    [answer] = world.results()
    assert answer.error is not None
    assert answer.error.message.endswith("it was dead-lettered and did not run")


def test_a_dead_lettered_result_ends_its_task_failed_once(world: World) -> None:
    # GIVEN a result the bridge could not deliver to Service Bus on any attempt
    task_id = new_task(world.ledger)
    body = dump_envelope(kept_result(world.ledger, task_id))

    # WHEN its DLQ hands it to the Lambda, and (at least once delivery) hands it over again
    assert run(record(body, "tool-results-dlq")) == {"batchItemFailures": []}
    assert run(record(body, "tool-results-dlq")) == {"batchItemFailures": []}

    # THEN the task failed with the reason, once; both deliveries are audited with their outcome
    task = world.ledger.get_task(task_id)
    assert task.state is TaskState.FAILED
    assert task.error is not None
    assert task.error["code"] == "dead_lettered"
    assert "could not be delivered to the coordinator" in task.error["message"]
    assert [e["outcome"] for e in dead_letter_events(world.ledger, task_id)] == [
        "task_failed",
        "already_ended",
    ]
    transitions = [e.data for e in world.ledger.audit(task_id) if e.kind == "state"]
    assert [t["to"] for t in transitions] == ["running", "failed"]
    assert world.results() == []  # nothing is sent anywhere


def test_a_dead_lettered_result_with_a_kept_answers_ids_but_other_content_ends_no_task(world: World) -> None:
    # GIVEN a kept answer, and a result under its request id and message id that says something else
    task_id = new_task(world.ledger)
    kept = kept_result(world.ledger, task_id)
    forged = kept.model_copy(update={"result": {"customer_id": "C-6666"}})
    assert (forged.request_id, forged.message_id) == (kept.request_id, kept.message_id)

    # WHEN its DLQ hands it over
    response = run(record(dump_envelope(forged), "tool-results-dlq", message_id="copy"))

    # THEN the ledger does not vouch for it (the whole envelope must be the kept one): no task ends
    assert response == {"batchItemFailures": []}
    assert world.ledger.get_task(task_id).state is TaskState.RUNNING
    assert dead_letter_events(world.ledger, task_id) == []


def test_a_dead_lettered_result_the_coordinator_recorded_after_all_changes_nothing(world: World) -> None:
    task_id = new_task(world.ledger)
    result = kept_result(world.ledger, task_id)
    world.ledger.record_tool_result(task_id, result.request_id, {"status": "ok"})  # it did arrive

    assert run(record(dump_envelope(result), "tool-results-dlq")) == {"batchItemFailures": []}

    assert world.ledger.get_task(task_id).state is TaskState.RUNNING
    assert dead_letter_events(world.ledger, task_id)[0]["outcome"] == "already_recorded"


def test_an_unreadable_request_whose_sender_and_reservation_verify_ends_its_task(world: World) -> None:
    # GIVEN a request body that is no valid envelope (an unknown schema version), from its task's session,
    # naming a live reservation of that task for its tool and digest
    task_id = new_task(world.ledger)
    request = tool_request(world.ledger, task_id)
    body = json.dumps(request.model_dump(mode="json") | {"schema_version": 99})

    assert run(record(body, "tool-requests-dlq")) == {"batchItemFailures": []}

    task = world.ledger.get_task(task_id)
    assert task.state is TaskState.FAILED
    assert task.error is not None
    assert "cannot be read (unsupported_schema_version" in task.error["message"]
    [event] = dead_letter_events(world.ledger, task_id)
    assert (event["outcome"], event["queue"]) == ("task_failed", "tool-requests-dlq")


@pytest.mark.parametrize("dlq", ["tool-requests-dlq", "tool-results-dlq"])
def test_a_garbage_body_naming_a_task_ends_nothing_and_is_removed_after_logging(
    world: World, dlq: str, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a body that is no valid envelope but names a task (from that task's session, even)
    task_id = new_task(world.ledger)
    body = json.dumps({"task_id": task_id, "tool": "getCustomer", "schema_version": 1})

    # WHEN its DLQ hands it over
    response = run(record(body, dlq, message_id="garbage"))

    # THEN nothing vouches for it: the task goes on, nothing is answered or audited; it is logged with
    # its body and completed (kept in the DLQ it would come back for 14 days, never verifiable)
    assert response == {"batchItemFailures": []}
    [logged] = [r for r in caplog.records if "does not verify" in r.getMessage()]
    assert getattr(logged, "body", None) == body
    assert world.ledger.get_task(task_id).state is TaskState.RUNNING
    assert dead_letter_events(world.ledger, task_id) == []
    assert world.results() == []


def test_a_forged_request_for_a_pending_call_is_never_answered(world: World) -> None:
    # GIVEN a request naming a pending call's message id from the task's session, with a random reservation
    task_id = new_task(world.ledger)
    genuine = tool_request(world.ledger, task_id)
    forged = genuine.model_copy(update={"reservation_id": f"{task_id}.r{'0' * 20}"})

    # WHEN it is dead-lettered (the executor left it unanswered)
    response = run(record(dump_envelope(forged), "tool-requests-dlq", message_id="forged"))

    # THEN it is not turned into an answer under the claimed id (logged, completed)
    assert response == {"batchItemFailures": []}
    assert world.results() == []
    assert dead_letter_events(world.ledger, task_id) == []
    assert kept_answers(world.ledger, task_id) == []


def test_a_forged_request_from_an_iam_user_is_never_answered(world: World) -> None:
    task_id = new_task(world.ledger)
    request = tool_request(world.ledger, task_id)

    response = run(record(dump_envelope(request), "tool-requests-dlq", message_id="u", sender="AIDAEXAMPLE"))

    assert response == {"batchItemFailures": []}
    assert world.results() == []


def test_a_dead_lettered_result_nobody_kept_ends_no_task(world: World) -> None:
    # GIVEN a result sent to the results queue by someone other than the executor (never kept)
    task_id = new_task(world.ledger)

    response = run(record(dump_envelope(tool_result(task_id)), "tool-results-dlq", message_id="forged"))

    assert response == {"batchItemFailures": []}
    assert world.ledger.get_task(task_id).state is TaskState.RUNNING
    assert dead_letter_events(world.ledger, task_id) == []


EXECUTOR_ROLE_ID = "AROAEXECUTORROLE00001"
DRAIN_ROLE_ID = "AROADEADLETTERSROLE01"


@pytest.mark.parametrize(
    "sender",
    [
        "AROASOMEOTHERROLE0001:agentcage-dev-tool-executor",  # a session of another role, named alike
        "AIDAEXAMPLEUSER000001",  # an IAM user: no role session at all
        None,  # no SenderId
    ],
)
def test_a_kept_result_dead_lettered_from_another_sender_ends_no_task(
    world: World, monkeypatch: pytest.MonkeyPatch, sender: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the roles that send results, and a byte-for-byte copy of a kept answer sent by someone else
    monkeypatch.setenv(RESULT_SENDER_ROLE_IDS_ENV, f"{EXECUTOR_ROLE_ID},{DRAIN_ROLE_ID}")
    task_id = new_task(world.ledger)
    body = dump_envelope(kept_result(world.ledger, task_id))
    dead = record(body, "tool-results-dlq", message_id="copy")
    dead["attributes"]["SenderId"] = sender

    # WHEN its DLQ hands it over
    response = run(dead)

    # THEN the sender does not verify: no task ends, nothing is audited; it is logged for a person
    assert response == {"batchItemFailures": []}
    assert world.ledger.get_task(task_id).state is TaskState.RUNNING
    assert dead_letter_events(world.ledger, task_id) == []
    [logged] = [r for r in caplog.records if "does not verify" in r.getMessage()]
    assert getattr(logged, "error", None) == "sender_mismatch"
    assert getattr(logged, "body", None) == body


@pytest.mark.parametrize("role_id", [EXECUTOR_ROLE_ID, DRAIN_ROLE_ID])
def test_a_kept_result_dead_lettered_from_a_result_sender_ends_its_task(
    world: World, monkeypatch: pytest.MonkeyPatch, role_id: str
) -> None:
    # GIVEN a kept answer sent by the executor's (or the drain's own) role session
    monkeypatch.setenv(RESULT_SENDER_ROLE_IDS_ENV, f" {EXECUTOR_ROLE_ID} , {DRAIN_ROLE_ID} ")
    task_id = new_task(world.ledger)
    body = dump_envelope(kept_result(world.ledger, task_id))

    response = run(record(body, "tool-results-dlq", sender=f"{role_id}:agentcage-dev-function"))

    assert response == {"batchItemFailures": []}
    assert world.ledger.get_task(task_id).state is TaskState.FAILED


def test_unverified_dead_letters_are_counted_as_unreadable_or_unvouched_by_dlq(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a garbage body, a forged request and a result nobody kept
    task_id = new_task(world.ledger)
    forged = tool_request(world.ledger, task_id).model_copy(update={"reservation_id": "r-forged"})
    capsys.readouterr()

    run(
        record("not json", "tool-requests-dlq", message_id="garbage"),
        record(dump_envelope(forged), "tool-requests-dlq", message_id="forged"),
        record(dump_envelope(tool_result(task_id)), "tool-results-dlq", message_id="unkept"),
    )

    # THEN each is counted under the name the Function App uses for the same case, with its DLQ
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    counted = [
        (metric["Name"], document.get(METRIC_DIMENSION_REASON))
        for document in documents
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", [])
        for metric in directive["Metrics"]
        if metric["Name"] in (METRIC_UNREADABLE_MESSAGES, METRIC_UNVOUCHED_MESSAGES)
    ]
    assert sorted(counted) == [
        (METRIC_UNREADABLE_MESSAGES, "tool-requests-dlq"),
        (METRIC_UNVOUCHED_MESSAGES, "tool-requests-dlq"),
        (METRIC_UNVOUCHED_MESSAGES, "tool-results-dlq"),
    ]


def test_a_dead_letter_naming_no_task_or_sent_by_another_task_ends_nothing(world: World) -> None:
    # GIVEN in one batch: a readable result, a body naming no task, and a request that names a task
    # while its sender is another task's session
    task_id, victim = new_task(world.ledger), new_task(world.ledger)
    good = record(dump_envelope(kept_result(world.ledger, task_id)), "tool-results-dlq", message_id="good")
    nameless = record("not json at all", "tool-requests-dlq", message_id="nameless")
    foreign = record(
        json.dumps({"task_id": victim}),
        "tool-requests-dlq",
        message_id="foreign",
        sender=f"AROAX:{role_session_name(task_id)}",
    )

    response = run(good, nameless, foreign)

    # THEN the batch is done (the unattributable ones logged for a person), and only the result ended a task
    assert response == {"batchItemFailures": []}
    assert world.ledger.get_task(task_id).state is TaskState.FAILED
    assert world.ledger.get_task(victim).state is TaskState.RUNNING
    assert dead_letter_events(world.ledger, victim) == []


def test_a_record_from_another_queue_is_refused_not_guessed(world: World) -> None:
    task_id = new_task(world.ledger)
    response = run(record(dump_envelope(tool_result(task_id)), "tool-results", message_id="x"))
    assert response == {"batchItemFailures": [{"itemIdentifier": "x"}]}
    assert world.ledger.get_task(task_id).state is TaskState.RUNNING


def iam_actions_of(operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions one DynamoDB API call is authorised with (a transaction: per item)."""
    if operation in ("TransactWriteItems", "TransactGetItems"):
        kinds = {
            "Get": "GetItem",
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return {f"dynamodb:{kinds[kind]}" for item in params["TransactItems"] for kind in item}
    return {f"dynamodb:{operation}"}


def test_the_lambda_needs_no_dynamodb_action_beyond_the_role_infra_grants(world: World) -> None:
    # GIVEN the handler's own ledger client, recording every call it makes
    task_id, other = new_task(world.ledger), new_task(world.ledger)
    request = tool_request(world.ledger, task_id)
    used: set[str] = set()
    ledger = dead_letters.ledger()
    assert isinstance(ledger, DynamoDBLedger)

    def note(model: Any, params: dict[str, Any], **_: Any) -> None:
        used.update(iam_actions_of(model.name, params))

    ledger.client.meta.events.register("provide-client-params.dynamodb", note)

    # WHEN it answers a request and ends a task
    run(
        record(dump_envelope(request), "tool-requests-dlq", message_id="a"),
        record(dump_envelope(kept_result(world.ledger, other)), "tool-results-dlq", message_id="b"),
    )

    # THEN every action it used is granted, and every granted action is used (nothing to spare)
    assert world.ledger.get_task(other).state is TaskState.FAILED
    assert used == set(DEAD_LETTERS_LEDGER_ACTIONS)
    assert isinstance(dead_letters.publisher(), SqsResultPublisher)
