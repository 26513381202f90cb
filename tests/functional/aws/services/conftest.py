"""Fixtures for the data services: moto in-process, a seeded domain table, a Lambda context double."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_services_support import DOMAIN_TABLE, IDEMPOTENCY_TABLE, FakeLambdaContext
from moto import mock_aws

from agentcage.constants import (
    DOMAIN_TABLE_ENV,
    IDEMPOTENCY_TABLE_ENV,
    RISK_THRESHOLD_ENV,
    VENDOR_FAILURE_MODE_ENV,
)
from functions.aws.services.dependencies import reset_dependencies
from functions.aws.services.repository import DomainRepository, create_domain_table, create_idempotency_table
from functions.aws.services.seed import load_seed_data


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake region and credentials and the table names; no setting leaks in from the machine."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv(VENDOR_FAILURE_MODE_ENV, raising=False)
    monkeypatch.delenv(RISK_THRESHOLD_ENV, raising=False)
    monkeypatch.delenv("POWERTOOLS_IDEMPOTENCY_DISABLED", raising=False)
    monkeypatch.setenv(DOMAIN_TABLE_ENV, DOMAIN_TABLE)
    monkeypatch.setenv(IDEMPOTENCY_TABLE_ENV, IDEMPOTENCY_TABLE)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A moto DynamoDB client with the domain table seeded and the idempotency table created."""
    with mock_aws():
        reset_dependencies()
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_domain_table(client, DOMAIN_TABLE)
        create_idempotency_table(client, IDEMPOTENCY_TABLE)
        load_seed_data(client, DOMAIN_TABLE)
        yield client
        reset_dependencies()


@pytest.fixture
def repository(dynamodb: Any) -> DomainRepository:
    return DomainRepository(dynamodb, DOMAIN_TABLE)


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
