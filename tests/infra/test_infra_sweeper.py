"""The ledger sweeper: a scheduled Lambda with exactly the DynamoDB actions Ledger.expire_stale uses."""

from __future__ import annotations

import json

import pytest
from infra_harness import StackRun

from agentcage import constants
from functions.aws.manifest import LambdaSpec, lambda_spec
from infra.components.service_function import rate_expression
from infra.iam import COORDINATOR_LEDGER_ACTIONS, LEDGER_SWEEPER_ACTIONS


def test_the_sweeper_runs_on_the_configured_rate_and_only_its_rule_may_invoke_it(run: StackRun) -> None:
    default = lambda_spec("ledger-sweeper").schedule_minutes
    minutes = run.config["agentcage:lambda"].get("ledgerSweepMinutes", default)
    function = run.one("aws:lambda/function:Function", "ledger-sweeper-function")
    rule = run.one("aws:cloudwatch/eventRule:EventRule", "ledger-sweeper-schedule")
    target = run.one("aws:cloudwatch/eventTarget:EventTarget", "ledger-sweeper-schedule-target")
    permission = run.one("aws:lambda/permission:Permission", "ledger-sweeper-schedule-invoke")
    assert rule.inputs["scheduleExpression"] == f"rate({minutes} minutes)"
    assert target.inputs["rule"] == rule.outputs["name"]
    assert target.inputs["arn"] == function.outputs["arn"]
    assert permission.inputs["principal"] == "events.amazonaws.com"
    assert permission.inputs["sourceArn"] == rule.outputs["arn"]
    assert permission.inputs["function"] == function.outputs["name"]
    assert function.inputs.get("reservedConcurrentExecutions") is None  # reservations are off by default
    variables = function.inputs["environment"]["variables"]
    ledger = run.one("aws:dynamodb/table:Table", "aws-state-ledger")
    assert variables[constants.LEDGER_TABLE_ENV] == ledger.outputs["name"]
    assert variables[constants.LEDGER_BACKEND_ENV] == "dynamodb"


def test_the_sweeper_role_names_exactly_the_ledger_actions_expire_stale_needs(run: StackRun) -> None:
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "ledger-sweeper-policy")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    ledger = run.one("aws:dynamodb/table:Table", "aws-state-ledger")
    assert set(statements) == {"WriteOwnLogGroup", "SendTraces", "LedgerSweep"}  # no queue, no API
    assert statements["LedgerSweep"]["Action"] == list(LEDGER_SWEEPER_ACTIONS)
    assert statements["LedgerSweep"]["Resource"] == [ledger.outputs["arn"]]
    # The executor's and the dead-letters Lambda's ledger grants stay without Scan; the coordinator
    # scans only for its approval-expiry timer (Ledger.list_tasks), with exactly its declared actions.
    for name in ("tool-executor-policy", "dead-letters-policy"):
        document = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", name).inputs["policy"])
        assert all("dynamodb:Scan" not in s["Action"] for s in document["Statement"]), name
    coordinator = json.loads(
        run.one("aws:iam/rolePolicy:RolePolicy", "azure-to-aws-ledger-policy").inputs["policy"]
    )
    [grant] = [s for s in coordinator["Statement"] if s["Sid"] == "LedgerTable"]
    assert grant["Action"] == list(COORDINATOR_LEDGER_ACTIONS)
    assert "dynamodb:Scan" in grant["Action"]


def test_the_rate_expression_uses_the_unit_eventbridge_accepts() -> None:
    assert rate_expression(1) == "rate(1 minute)"
    assert rate_expression(5) == "rate(5 minutes)"
    with pytest.raises(ValueError, match="1-1440"):
        rate_expression(0)


SWEEPER = {
    "name": "x",
    "handler": "functions.aws.ledger_sweeper.handler",
    "trigger": "schedule",
    "archive": "core",
    "timeout_seconds": 60,
    "memory_mb": 256,
    "schedule_minutes": 5,
}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"schedule_minutes": None}, "schedule_minutes is set exactly"),
        ({"schedule_minutes": 0}, "1-1440"),
        ({"queue": "tool-requests"}, "a queue is named exactly"),
        ({"operations": ("getVolume",)}, "operations are named exactly"),
        ({"trigger": "api", "schedule_minutes": None}, "operations are named exactly"),
    ],
)
def test_a_manifest_entry_carries_exactly_what_its_trigger_needs(changes: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        LambdaSpec(**{**SWEEPER, **changes})
    LambdaSpec(**SWEEPER)  # the unchanged entry is valid
