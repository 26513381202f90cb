"""moto in-process: the seeded domain and idempotency tables, the ledger table, the results queue."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools import Logger
from moto import mock_aws

from agentcage.constants import (
    DOMAIN_TABLE_ENV,
    ENVIRONMENT_ENV,
    EXECUTOR_LEASE_SECONDS_ENV,
    IDEMPOTENCY_TABLE_ENV,
    VENDOR_FAILURE_MODE_ENV,
)
from agentcage.gate import GovernanceGate
from agentcage.ledger.dynamodb import DynamoDBLedger
from agentcage.ledger.dynamodb_items import create_ledger_table
from functions.aws.executor import (
    InProcessTransport,
    PowertoolsToolMetrics,
    SqsResultPublisher,
    build_executor,
)
from functions.aws.services.dependencies import reset_dependencies
from functions.aws.services.repository import create_domain_table, create_idempotency_table
from functions.aws.services.seed import load_seed_data
from tests.functional.aws.executor.executor_support import (
    BREAKER,
    DOMAIN_TABLE,
    IDEMPOTENCY_TABLE,
    LEDGER_TABLE,
    RESULTS_QUEUE,
    CountingTransport,
    ExecutorWorld,
    FakeClock,
)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake region and credentials, the table names, a dev deployment; nothing leaks in from the host."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(VENDOR_FAILURE_MODE_ENV, raising=False)
    monkeypatch.delenv(EXECUTOR_LEASE_SECONDS_ENV, raising=False)  # the manifest's lease, unless a test says
    monkeypatch.delenv("POWERTOOLS_IDEMPOTENCY_DISABLED", raising=False)
    monkeypatch.setenv(DOMAIN_TABLE_ENV, DOMAIN_TABLE)
    monkeypatch.setenv(IDEMPOTENCY_TABLE_ENV, IDEMPOTENCY_TABLE)
    monkeypatch.setenv(ENVIRONMENT_ENV, "dev")


@pytest.fixture(scope="session")
def gate() -> GovernanceGate:
    return GovernanceGate.default()


@pytest.fixture
def world(gate: GovernanceGate) -> Iterator[ExecutorWorld]:
    with mock_aws():
        reset_dependencies()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_domain_table(dynamodb, DOMAIN_TABLE)
        create_idempotency_table(dynamodb, IDEMPOTENCY_TABLE)
        load_seed_data(dynamodb, DOMAIN_TABLE)
        create_ledger_table(dynamodb, LEDGER_TABLE)
        clock = FakeClock()
        ledger = DynamoDBLedger(LEDGER_TABLE, client=dynamodb, breaker=BREAKER, clock=clock)
        sqs = boto3.client("sqs", region_name="us-east-1")
        results_url = sqs.create_queue(QueueName=RESULTS_QUEUE)["QueueUrl"]
        transport = CountingTransport(InProcessTransport())
        executor = build_executor(
            gate=gate,
            ledger=ledger,
            transport=transport,
            publisher=SqsResultPublisher(results_url, client=sqs),
            metrics=PowertoolsToolMetrics(),
            logger=Logger(service="tool_executor_test"),
        )
        yield ExecutorWorld(ledger, clock, sqs, results_url, dynamodb, transport, executor)
        reset_dependencies()
