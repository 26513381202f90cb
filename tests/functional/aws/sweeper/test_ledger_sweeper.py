"""Lambda ledger-sweeper against the DynamoDB ledger in moto: abandoned reservations come back, and the
handler uses only the DynamoDB actions infra grants its role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from agentcage.budget.limits import BudgetLimits, Usage
from agentcage.constants import LEDGER_BACKEND_ENV, LEDGER_TABLE_ENV
from agentcage.ledger import Ledger, ReservationStatus
from agentcage.ledger.dynamodb import DynamoDBLedger
from agentcage.ledger.dynamodb_items import create_ledger_table
from agentcage.ledger.testing import dynamodb_client, serialize_moto_dynamodb
from functions.aws import ledger_sweeper
from functions.aws.executor.transport import LocalLambdaContext
from infra.iam import LEDGER_SWEEPER_ACTIONS

TABLE = "agentcage-test-ledger"
# An hour ago, so the reservations made "then" are stale by the real clock the handler's ledger uses.
AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A ledger table in moto, and the environment infra gives the sweeper Lambda."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv(LEDGER_BACKEND_ENV, "dynamodb")
    monkeypatch.setenv(LEDGER_TABLE_ENV, TABLE)
    ledger_sweeper.ledger.cache_clear()
    with mock_aws(), serialize_moto_dynamodb():
        create_ledger_table(dynamodb_client(), TABLE)
        yield
    ledger_sweeper.ledger.cache_clear()


def abandoned_reservations(at: datetime) -> tuple[Ledger, str, list[str]]:
    """A task with a model reservation and a consumed tool reservation, both left unsettled at ``at``."""
    past = DynamoDBLedger(TABLE, client=dynamodb_client(), clock=lambda: at)
    task = past.create_task(
        agent_id="returns-agent",
        environment="dev",
        request="refund order O-1001",
        limits=BudgetLimits(
            tokens=10_000,
            cost_micro_usd=50_000,
            model_steps=10,
            tool_calls=10,
            deadline=at + timedelta(hours=2),
        ),
        context={},
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    model = past.reserve(task.task_id, Usage(tokens=700, model_steps=1), kind="model", ttl_seconds=60)
    tool = past.reserve(
        task.task_id, Usage(tool_calls=1, cost_micro_usd=5), kind="tool", tool="t", ttl_seconds=60
    )
    past.consume(tool.reservation_id)
    return past, task.task_id, [model.reservation_id, tool.reservation_id]


def iam_actions_of(operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions one DynamoDB API call is authorised with (a transaction: per item)."""
    if operation == "TransactWriteItems":
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return {f"dynamodb:{kinds[kind]}" for item in params["TransactItems"] for kind in item}
    return {f"dynamodb:{operation}"}


def test_the_handler_returns_abandoned_reservations_and_reports_how_many(
    table: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a task whose process died an hour ago between reserving and settling
    past, task_id, (model_id, tool_id) = abandoned_reservations(AN_HOUR_AGO)

    # WHEN the scheduled event fires
    result = ledger_sweeper.handler({"source": "aws.events"}, LocalLambdaContext("ledger-sweeper"))

    # THEN neither holds budget any longer: both are charged their upper bound, the model call (its
    # process died before settling: it may have been billed) and the consumed (maybe executed) tool call
    assert result == {"expired": 2}
    state = past.budget_state(task_id)
    assert state.reserved.is_zero()
    assert state.used == Usage(tokens=700, model_steps=1, tool_calls=1, cost_micro_usd=5)
    assert {past.get_reservation(r).status for r in (model_id, tool_id)} == {ReservationStatus.EXPIRED}
    assert [e.kind for e in past.audit(task_id)].count("reservation_expired") == 2
    # and the count is emitted as the metric the dashboard charts
    metric = next(json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line)
    assert metric["ReservationsExpired"] in (2, [2])
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "agentcage"

    # WHEN it fires again THEN there is nothing left to return (idempotent)
    assert ledger_sweeper.handler({}, LocalLambdaContext("ledger-sweeper")) == {"expired": 0}


def test_a_live_reservation_is_left_alone(table: None) -> None:
    live, task_id, _ = abandoned_reservations(datetime.now(UTC))  # made just now, 60 s to live
    assert ledger_sweeper.sweep() == 0
    assert live.budget_state(task_id).reserved == Usage(
        tokens=700, model_steps=1, tool_calls=1, cost_micro_usd=5
    )


def test_the_sweep_needs_no_dynamodb_action_beyond_the_role_infra_grants(table: None) -> None:
    # GIVEN the handler's own ledger client, recording every call it makes
    abandoned_reservations(AN_HOUR_AGO)
    used: set[str] = set()
    ledger = ledger_sweeper.ledger()
    assert isinstance(ledger, DynamoDBLedger)

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        used.update(iam_actions_of(model.name, params))

    ledger.client.meta.events.register("provide-client-params.dynamodb", record)

    # WHEN it sweeps
    assert ledger_sweeper.sweep() == 2

    # THEN every action it used is granted, and every granted action is used (nothing to spare)
    assert used == set(LEDGER_SWEEPER_ACTIONS)
