"""Crash-recovery helpers: a process that dies mid-call, deliveries, and what the services hold."""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.envelopes import ToolResult
from functions.aws import tool_executor
from functions.aws.executor import ServiceRequest, ServiceResponse
from functions.aws.services.repository import DomainRepository
from tests.functional.aws.executor.executor_support import DOMAIN_TABLE, ExecutorWorld, batch, body_of


class Crash(BaseException):
    """The process dying (Lambda timeout, kill -9): nothing after it runs, nothing catches it."""


class CrashingTransport:
    """The executor's transport that dies once at ``operation``: before the call reaches the service,
    or after the service did its work but before the answer comes back."""

    def __init__(self, world: ExecutorWorld, operation: str, *, after_call: bool) -> None:
        self.inner = world.transport
        self.operation = operation
        self.after_call = after_call
        self.crashed = False

    def send(self, request: ServiceRequest) -> ServiceResponse:
        if request.operation != self.operation or self.crashed:
            return self.inner.send(request)
        self.crashed = True
        if self.after_call:
            self.inner.send(request)
        raise Crash(f"died during {request.operation}")


def crash(world: ExecutorWorld, record: dict[str, Any], operation: str, *, after_call: bool) -> None:
    """Deliver ``record`` to an executor process that dies during ``operation``."""
    healthy = world.executor.gate.transport
    world.executor.gate.transport = CrashingTransport(world, operation, after_call=after_call)
    try:
        with pytest.raises(Crash):
            world.executor.handle(record)
    finally:
        world.executor.gate.transport = healthy
    assert world.results() == []  # no answer went out, none was stored


def deliver(world: ExecutorWorld, record: dict[str, Any]) -> ToolResult:
    assert tool_executor.process_batch(batch(record), tool_executor=world.executor) == {
        "batchItemFailures": []
    }
    [delivered] = world.results()
    return delivered.result


def refund_items(world: ExecutorWorld) -> int:
    pages = world.dynamodb.get_paginator("scan").paginate(
        TableName=DOMAIN_TABLE,
        FilterExpression="begins_with(PK, :refund)",
        ExpressionAttributeValues={":refund": {"S": "REFUND#"}},
    )
    return sum(len(page.get("Items", [])) for page in pages)


def refunded_cents(world: ExecutorWorld) -> int:
    return DomainRepository(world.dynamodb, DOMAIN_TABLE).get_order("O-50001").refunded_cents


def events(world: ExecutorWorld, record: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in world.ledger.audit(body_of(record)["task_id"]) if e.kind == kind]


def assert_denied(result: ToolResult, code: str) -> None:
    assert result.status == "denied"
    assert result.error is not None
    assert result.error.code == code, result.error
