"""Who may send to the AWS work queues: only the bridge role sends tool requests, only the executor and
the dead-letters drain send tool results, and both Lambdas that verify a request's sender know the
bridge role's unique id (the ``AROA...`` an SQS ``SenderId`` of its sessions starts with)."""

from __future__ import annotations

import json
from typing import Any

from infra_harness import StackRun

from agentcage import constants

POLICY = "aws:sqs/queuePolicy:QueuePolicy"
ROLE = "aws:iam/role:Role"


def _queue(run: StackRun, logical: str) -> Any:
    name = f"agentcage-{run.stack}-{logical}"
    [queue] = [q for q in run.of_type("aws:sqs/queue:Queue") if q.inputs["name"] == name]
    return queue


def _policy_of(run: StackRun, logical: str) -> dict[str, Any]:
    url = _queue(run, logical).outputs["url"]
    [policy] = [p for p in run.of_type(POLICY) if p.inputs["queueUrl"] == url]
    return json.loads(policy.inputs["policy"])


def _role_arn(run: StackRun, name_part: str) -> str:
    [role] = [r for r in run.of_type(ROLE) if name_part in r.name]
    return str(role.outputs["arn"])


def _senders(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    allowed, denied = by_sid["OnlyTheseRolesSend"], by_sid["NoOtherPrincipalSends"]
    assert allowed["Effect"] == "Allow"
    assert denied["Effect"] == "Deny"
    assert allowed["Action"] == denied["Action"] == ["sqs:SendMessage"]
    assert denied["Principal"] == {"AWS": "*"}
    return sorted(allowed["Principal"]["AWS"]), sorted(
        denied["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    )


def test_only_the_bridge_role_may_send_tool_requests(run: StackRun) -> None:
    document = _policy_of(run, constants.TOOL_REQUESTS_QUEUE)
    bridge = _role_arn(run, "azure-to-aws-bridge")
    assert _senders(document) == ([bridge], [bridge])
    for statement in document["Statement"]:
        assert statement["Resource"] == [_queue(run, constants.TOOL_REQUESTS_QUEUE).outputs["arn"]]


def test_only_the_executor_and_the_dead_letters_drain_may_send_tool_results(run: StackRun) -> None:
    document = _policy_of(run, constants.TOOL_RESULTS_QUEUE)
    expected = sorted([_role_arn(run, "tool-executor"), _role_arn(run, "dead-letters")])
    assert _senders(document) == (expected, expected)


def test_the_lambdas_that_verify_senders_know_the_bridge_role_id(run: StackRun) -> None:
    [bridge] = [r for r in run.of_type(ROLE) if "azure-to-aws-bridge" in r.name]
    for function in ("tool-executor-function", "dead-letters-function"):
        variables = run.one("aws:lambda/function:Function", function).inputs["environment"]["variables"]
        assert variables[constants.BRIDGE_ROLE_ID_ENV] == bridge.outputs["uniqueId"]
        assert variables[constants.BRIDGE_ROLE_ID_ENV].startswith("AROA")
