"""A result the results queue refused after the tool ran is sent again by the retry, not lost as a replay."""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.envelopes import ToolRequest, ToolResult, dump_envelope, parse_envelope
from agentcage.errors import LedgerUnavailableError, TransportError
from agentcage.ledger import ClaimScope
from functions.aws import tool_executor
from functions.aws.executor import RESENT_EVENT, find_stored_result, result_message_id
from functions.aws.executor.results import ResultPublisher
from functions.aws.services.repository import DomainRepository
from tests.functional.aws.executor.executor_support import (
    DOMAIN_TABLE,
    ExecutorWorld,
    audit_kinds,
    batch,
    body_of,
    record_for,
)

RETURNS = "sqs_tool_requests_returns"


class FailingOnce:
    """The results queue refusing the next ``failures`` sends, then accepting (SQS throttling, an outage)."""

    def __init__(self, inner: ResultPublisher, failures: int = 1) -> None:
        self.inner = inner
        self.failures = failures
        self.refused: list[ToolResult] = []

    def publish(self, result: ToolResult) -> None:
        if self.failures:
            self.failures -= 1
            self.refused.append(result)
            raise TransportError(f"could not send the result of {result.request_id} (as told)")
        self.inner.publish(result)


def _refund_items(world: ExecutorWorld) -> int:
    pages = world.dynamodb.get_paginator("scan").paginate(
        TableName=DOMAIN_TABLE,
        FilterExpression="begins_with(PK, :refund)",
        ExpressionAttributeValues={":refund": {"S": "REFUND#"}},
    )
    return sum(len(page.get("Items", [])) for page in pages)


def _failed(response: Any, record: dict[str, Any]) -> bool:
    return bool(response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]})


def test_a_refund_result_the_queue_refused_is_sent_again_by_the_retry(world: ExecutorWorld) -> None:
    # GIVEN an approved refund, and a results queue that refuses the first send
    record = world.prepare(record_for(RETURNS, "createRefund"))
    publisher = FailingOnce(world.executor.publisher)
    world.executor.publisher = publisher
    refunded_before = DomainRepository(world.dynamodb, DOMAIN_TABLE).get_order("O-50001").refunded_cents
    items_before = _refund_items(world)

    # WHEN the refund runs, its result is refused (the record stays on the queue) and SQS retries it
    first = tool_executor.process_batch(batch(record), tool_executor=world.executor)
    assert _failed(first, record)
    assert world.results() == []
    # ... its answer is kept, for the retry to send
    kept = find_stored_result(world.ledger, parse_envelope(ToolRequest, record["body"]))
    retry = tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN the retry sends the identical stored result (not `denied: replay`) ...
    assert retry == {"batchItemFailures": []}
    [delivered] = world.results()
    [refused] = publisher.refused
    assert dump_envelope(delivered.result) == dump_envelope(refused)
    assert delivered.result.status == "ok"
    assert delivered.result.message_id == result_message_id(
        body_of(record)["message_id"], body_of(record)["reservation_id"]
    )
    # ... and the service ran once: one refund item, the order refunded once
    assert world.transport.count("createRefund") == 1
    assert _refund_items(world) == items_before + 1
    order = DomainRepository(world.dynamodb, DOMAIN_TABLE).get_order("O-50001")
    assert order.refunded_cents == refunded_before + 18999
    kinds = audit_kinds(world.ledger, body_of(record)["task_id"])
    assert kinds.count("tool_executed") == 1
    assert kinds.count(RESENT_EVENT) == 1
    assert "tool_denied" not in kinds
    assert kept == delivered.result


def test_a_retry_after_the_request_expired_still_gets_the_stored_result(world: ExecutorWorld) -> None:
    # GIVEN a lookup whose result was refused, retried by SQS only after the request expired
    record = world.prepare(record_for(RETURNS, "getCustomer"), expires_in=60)
    world.executor.publisher = FailingOnce(world.executor.publisher)
    assert _failed(tool_executor.process_batch(batch(record), tool_executor=world.executor), record)
    world.clock.advance(180)  # the queue's visibility timeout

    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN the stored result goes back, not `denied: envelope_expired`
    [delivered] = world.results()
    assert delivered.result.status == "ok"
    assert isinstance(delivered.result.result, dict)
    assert delivered.result.result["customer_id"] == "C-1001"
    assert world.transport.count("getCustomer") == 1


def test_a_refusal_after_the_reservation_was_consumed_is_not_lost_either(world: ExecutorWorld) -> None:
    # GIVEN a refund whose approval was granted for other arguments: consumed, then refused
    template = record_for(RETURNS, "createRefund")
    body = body_of(template)
    world.ensure_task(body["task_id"])
    smaller = world.approval(body, args={**body["args"], "amount_cents": 5000})
    record = world.prepare(template, approval_id=smaller.approval_id)
    world.executor.publisher = FailingOnce(world.executor.publisher)
    assert _failed(tool_executor.process_batch(batch(record), tool_executor=world.executor), record)

    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN the coordinator is told the real reason, not `replay`
    [delivered] = world.results()
    assert delivered.result.status == "denied"
    assert delivered.result.error is not None
    assert delivered.result.error.code == "approval_mismatch"
    assert world.transport.calls == []


def test_a_result_the_ledger_cannot_keep_is_not_sent_and_the_retry_recovers_it(
    world: ExecutorWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a lookup whose answer the ledger refuses to keep (DynamoDB throttled the write)
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    claim = world.ledger.claim
    refuse = [True]

    def refusing(task_id: str, scope: Any, key: str, **kwargs: Any) -> Any:
        if scope is ClaimScope.ANSWER and refuse[0]:
            raise LedgerUnavailableError("DynamoDB throttled the write (as told)")
        return claim(task_id, scope, key, **kwargs)

    monkeypatch.setattr(world.ledger, "claim", refusing)

    # WHEN it runs
    first = tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN nothing is sent (the coordinator would drop an unkept answer, and Service Bus would then drop
    # the real one under the same message id): the record stays queued
    assert _failed(first, record)
    assert world.results() == []

    # WHEN the ledger recovers and SQS redelivers after the executor's lease
    refuse[0] = False
    world.clock.advance(46)
    retry = tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN the read is recovered (run once more), kept and sent
    assert retry == {"batchItemFailures": []}
    [delivered] = world.results()
    assert delivered.result.status == "ok"
    assert find_stored_result(world.ledger, parse_envelope(ToolRequest, record["body"])) == delivered.result
    assert world.transport.count("getCustomer") == 2


def test_a_stored_result_answers_only_its_own_request_and_reservation(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    tool_executor.process_batch(batch(record), tool_executor=world.executor)
    request = parse_envelope(ToolRequest, record["body"])

    stored = find_stored_result(world.ledger, request)

    assert stored is not None
    assert dump_envelope(stored) == dump_envelope(world.results()[0].result)
    other_reservation = request.model_copy(update={"reservation_id": request.reservation_id[:-1] + "x"})
    other_message = request.model_copy(update={"message_id": "msg-someone-else-01"})
    assert find_stored_result(world.ledger, other_reservation) is None
    assert find_stored_result(world.ledger, other_message) is None
