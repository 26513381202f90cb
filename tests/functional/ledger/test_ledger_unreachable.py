"""A ledger that is unreachable or times out fails closed with a readable reason (issue 12).

Every backend turns "did not answer" into :class:`~agentcage.errors.LedgerUnavailableError` (code
``ledger_unavailable``, HTTP 503: retry later), never a foreign SDK error and never a success: a
reservation that was not written is not a reservation, so no call may be made on it. SQLite times out
on a write lock another process holds; DynamoDB times out, cannot connect, or answers 5xx.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from agentcage.budget.limits import Usage
from agentcage.errors import LedgerUnavailableError
from agentcage.ledger import Ledger, SQLiteLedger
from tests.functional.ledger.ledger_support import FakeClock, new_task


@pytest.fixture
def dynamodb_ledger(clock: FakeClock) -> Iterator[Any]:
    """A DynamoDB ledger in moto whose client tries once (botocore's retries would only slow the test)."""
    import boto3
    from moto import mock_aws

    from agentcage.ledger.dynamodb import DynamoDBLedger
    from agentcage.ledger.dynamodb_items import create_ledger_table
    from agentcage.ledger.testing import serialize_moto_dynamodb

    with mock_aws(), serialize_moto_dynamodb():
        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="moto",
            aws_secret_access_key="moto",
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )
        create_ledger_table(client, "ledger")
        yield DynamoDBLedger("ledger", client=client, clock=clock)


def _server_error(request: Any, **_: Any) -> AWSResponse:
    body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal error"}'
    raw = _Raw(body)
    return AWSResponse(request.url, 500, {"Content-Type": "application/x-amz-json-1.0"}, raw)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _read_timeout(request: Any, **_: Any) -> None:
    raise ReadTimeoutError(endpoint_url=request.url)


def _unreachable(request: Any, **_: Any) -> None:
    raise EndpointConnectionError(endpoint_url=request.url)


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (_read_timeout, "Read timeout"),
        (_unreachable, "Could not connect"),
        (_server_error, "InternalServerError"),
    ],
    ids=["read_timeout", "unreachable", "server_error"],
)
@pytest.mark.parametrize("operation", ["reserve", "settle", "consume", "get_task"])
def test_a_dynamodb_ledger_that_does_not_answer_is_unavailable_not_a_foreign_error(
    dynamodb_ledger: Any,
    clock: FakeClock,
    failure: Callable[..., Any],
    says: str,
    operation: str,
) -> None:
    # GIVEN a task, a reservation, and then DynamoDB stops answering
    ledger: Ledger = dynamodb_ledger
    task = new_task(ledger, clock)
    tool = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
    calls: dict[str, Callable[[], object]] = {
        "reserve": lambda: ledger.reserve(task.task_id, Usage(tokens=100), kind="model"),
        "settle": lambda: ledger.settle(tool.reservation_id, Usage(tool_calls=1)),
        "consume": lambda: ledger.consume(tool.reservation_id),
        "get_task": lambda: ledger.get_task(task.task_id),
    }
    dynamodb_ledger.client.meta.events.register_first("before-send.dynamodb", failure)

    # WHEN the operation runs THEN it fails closed, saying what happened
    with pytest.raises(LedgerUnavailableError, match=says) as raised:
        calls[operation]()
    assert raised.value.code == "ledger_unavailable"
    assert raised.value.status == 503


def test_a_sqlite_ledger_locked_by_another_process_times_out_as_unavailable(
    tmp_path: Path, clock: FakeClock
) -> None:
    # GIVEN a SQLite ledger that waits 50 ms for a lock, and another process holding the write lock
    ledger = SQLiteLedger(tmp_path / "ledger.db", clock=clock, busy_timeout_ms=50)
    task = new_task(ledger, clock)
    other = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        # WHEN a reservation is asked for THEN it times out as unavailable, and nothing was reserved
        with pytest.raises(LedgerUnavailableError, match="did not answer"):
            ledger.reserve(task.task_id, Usage(tokens=100), kind="model")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert ledger.budget_state(task.task_id).reserved.is_zero()
    ledger.close()
