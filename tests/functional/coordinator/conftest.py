"""The coordinator over the SQLite and DynamoDB (moto in-process) ledgers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcage.ledger import Ledger
from tests.functional.coordinator.coordinator_support import FakeClock, open_test_ledger


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "dynamodb"])
def ledger(request: pytest.FixtureRequest, clock: FakeClock, tmp_path: Path) -> Iterator[Ledger]:
    with open_test_ledger(str(request.param), clock, tmp_path) as opened:
        yield opened
