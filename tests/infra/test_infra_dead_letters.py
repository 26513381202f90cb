"""The dead-letters Lambda: it drains both AWS DLQs, and its role holds exactly what it needs."""

from __future__ import annotations

import json

from infra_harness import StackRun

from agentcage import constants
from agentcage.topology import dead_letter_queue
from functions.aws.manifest import lambda_spec
from infra.iam import DEAD_LETTERS_LEDGER_ACTIONS

MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]


def _queues(run: StackRun) -> dict[str, dict]:
    return {q.inputs["name"]: q for q in run.of_type("aws:sqs/queue:Queue")}


def test_both_dead_letter_queues_trigger_the_dead_letters_lambda(run: StackRun) -> None:
    # GIVEN the stack's queues and the dead-letters function
    queues = _queues(run)
    prefix = f"agentcage-{run.stack}"
    function = run.one("aws:lambda/function:Function", "dead-letters-function")
    mappings = [m for m in run.of_type(MAPPING) if m.name.startswith("dead-letters-trigger")]

    # THEN exactly one mapping per DLQ, each to that function, with partial-batch responses
    assert sorted(m.inputs["eventSourceArn"] for m in mappings) == sorted(
        [
            queues[f"{prefix}-tool-requests-dlq"].outputs["arn"],
            queues[f"{prefix}-tool-results-dlq"].outputs["arn"],
        ]
    )
    spec = lambda_spec("dead-letters")
    for mapping in mappings:
        assert mapping.inputs["functionName"] == function.outputs["arn"]
        assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping.inputs["batchSize"] == spec.batch_size
        # each DLQ is drained by at most queueConcurrency.deadLetters copies (no reserved concurrency)
        ceiling = run.config["agentcage:lambda"]["queueConcurrency"]["deadLetters"]
        assert mapping.inputs["scalingConfig"]["maximumConcurrency"] == ceiling
    # AND nothing else consumes a DLQ
    others = [m for m in run.of_type(MAPPING) if m not in mappings]
    dlq_arns = {q.outputs["arn"] for name, q in queues.items() if name.endswith("-dlq")}
    assert not [m.name for m in others if m.inputs["eventSourceArn"] in dlq_arns]


def test_each_dlq_stays_invisible_while_the_lambda_runs_and_keeps_messages_14_days(run: StackRun) -> None:
    queues = _queues(run)
    timeout = lambda_spec("dead-letters").timeout_seconds
    for work_queue in (constants.TOOL_REQUESTS_QUEUE, constants.TOOL_RESULTS_QUEUE):
        spec = dead_letter_queue(work_queue)
        dlq = queues[f"agentcage-{run.stack}-{spec.name}"]
        assert dlq.inputs["visibilityTimeoutSeconds"] == spec.lock_seconds
        assert spec.lock_seconds >= timeout
        assert dlq.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
        assert "redrivePolicy" not in dlq.inputs  # the end of the line


def test_the_dead_letters_role_names_exactly_its_actions(run: StackRun) -> None:
    # GIVEN the function's role policy
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "dead-letters-policy")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    queues = _queues(run)
    prefix = f"agentcage-{run.stack}"
    ledger = run.one("aws:dynamodb/table:Table", "aws-state-ledger")

    # THEN: logs, traces, consuming the two DLQs, the ledger's exact actions, sending results; nothing else
    assert set(statements) == {
        "WriteOwnLogGroup",
        "SendTraces",
        "ConsumeOwnQueue",
        "LedgerDeadLetters",
        "SendToolResults",
    }
    consume = statements["ConsumeOwnQueue"]
    assert consume["Action"] == CONSUME
    assert sorted(consume["Resource"]) == sorted(
        [
            queues[f"{prefix}-tool-requests-dlq"].outputs["arn"],
            queues[f"{prefix}-tool-results-dlq"].outputs["arn"],
        ]
    )
    assert statements["LedgerDeadLetters"]["Action"] == list(DEAD_LETTERS_LEDGER_ACTIONS)
    assert statements["LedgerDeadLetters"]["Resource"] == [ledger.outputs["arn"]]
    assert statements["SendToolResults"]["Action"] == ["sqs:SendMessage"]
    assert statements["SendToolResults"]["Resource"] == [queues[f"{prefix}-tool-results"].outputs["arn"]]


def test_the_dead_letters_lambda_reaches_the_ledger_and_the_results_queue(run: StackRun) -> None:
    function = run.one("aws:lambda/function:Function", "dead-letters-function")
    variables = function.inputs["environment"]["variables"]
    ledger = run.one("aws:dynamodb/table:Table", "aws-state-ledger")
    results = _queues(run)[f"agentcage-{run.stack}-tool-results"]
    assert variables[constants.LEDGER_BACKEND_ENV] == "dynamodb"
    assert variables[constants.LEDGER_TABLE_ENV] == ledger.outputs["name"]
    assert variables[constants.TOOL_RESULTS_QUEUE_URL_ENV] == results.outputs["url"]
    assert function.inputs.get("reservedConcurrentExecutions") is None  # reservations are off by default


def test_a_dead_lettered_agent_step_alerts_a_person_where_alarms_are_on(run: StackRun) -> None:
    # GIVEN the stack's metric alerts (nothing drains the agent-steps DLQ: a person resends or discards)
    from agentcage.constants import AGENT_STEPS_QUEUE

    alerts = {a.name: a.inputs for a in run.of_type("azure-native:monitor:MetricAlert")}
    alarms = run.config["agentcage:alarms"]
    if not (json.loads(alarms) if isinstance(alarms, str) else alarms).get("enabled"):
        assert not alerts
        return
    namespace = run.one("azure-native:servicebus:Namespace", "azure-servicebus")

    # THEN one alert watches that queue's own dead-letter count, on the namespace, with an action group
    alert = alerts["azure-monitoring-alert-stalled-steps"]
    assert alert["scopes"] == [namespace.outputs["id"]]
    [criterion] = alert["criteria"]["allOf"]
    assert (criterion["metricName"], criterion["operator"], criterion["threshold"]) == (
        "DeadletteredMessages",
        "GreaterThan",
        0,
    )
    assert criterion["dimensions"] == [
        {"name": "EntityName", "operator": "Include", "values": [AGENT_STEPS_QUEUE]}
    ]
    assert alert["actions"][0]["actionGroupId"]
    assert "DEPLOY.md" in alert["description"]
