"""The conformance suite once more, through moto_server on 127.0.0.1: the real HTTP path of boto3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from agentcage.ledger import Ledger
from agentcage.ledger.dynamodb import DynamoDBLedger
from agentcage.ledger.dynamodb_items import create_ledger_table
from agentcage.ledger.testing import dynamodb_client, moto_server
from tests.functional.ledger.ledger_support import BREAKER, FakeClock


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(moto_endpoint: str, clock: FakeClock) -> Ledger:
    # A table per test: the server lives for the session, the tests share nothing.
    client = dynamodb_client(moto_endpoint)
    table = f"ledger-{uuid.uuid4().hex[:12]}"
    create_ledger_table(client, table)
    return DynamoDBLedger(table, client=client, breaker=BREAKER, clock=clock)
