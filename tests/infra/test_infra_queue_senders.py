"""Who may send to and take from the AWS queues: only the bridge role sends tool requests, only the
executor and the dead-letters drain send tool results, each work queue has exactly one consumer, nobody
sends to a dead-letter queue and only the drain takes from one; and the Lambdas that verify a message's
sender know the unique ids (the ``AROA...`` an SQS ``SenderId`` of a role session starts with) of the
roles that may send it, taken from those role resources."""

from __future__ import annotations

import json
from typing import Any

from infra_harness import StackRun

from agentcage import constants
from infra.iam import SQS_CONSUME_ACTIONS

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


def _role(run: StackRun, name_part: str) -> Any:
    [role] = [r for r in run.of_type(ROLE) if name_part in r.name]
    return role


def _role_arn(run: StackRun, name_part: str) -> str:
    return str(_role(run, name_part).outputs["arn"])


def _consumers(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    allowed, denied = by_sid["OnlyTheseRolesConsume"], by_sid["NoOtherPrincipalConsumes"]
    assert (allowed["Effect"], denied["Effect"]) == ("Allow", "Deny")
    assert allowed["Action"] == denied["Action"] == list(SQS_CONSUME_ACTIONS)
    assert set(SQS_CONSUME_ACTIONS) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
    }
    assert denied["Principal"] == {"AWS": "*"}
    return sorted(allowed["Principal"]["AWS"]), sorted(
        denied["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    )


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


def test_each_work_queue_is_consumed_by_its_one_lambda_only(run: StackRun) -> None:
    # GIVEN the work queues' policies, and the roles of the executor and of the bridge to Azure
    executor, bridge = _role_arn(run, "tool-executor"), _role_arn(run, "aws-to-azure-bridge")

    # THEN only the executor takes tool requests and only the bridge takes tool results: every other
    # principal is denied receiving, deleting and holding them, whatever its own policy grants
    assert _consumers(_policy_of(run, constants.TOOL_REQUESTS_QUEUE)) == ([executor], [executor])
    assert _consumers(_policy_of(run, constants.TOOL_RESULTS_QUEUE)) == ([bridge], [bridge])


def test_nobody_sends_to_a_dead_letter_queue_and_only_the_drain_takes_from_one(run: StackRun) -> None:
    drain = _role_arn(run, "dead-letters")
    for work_queue in (constants.TOOL_REQUESTS_QUEUE, constants.TOOL_RESULTS_QUEUE):
        dlq = _queue(run, f"{work_queue}-dlq")
        document = _policy_of(run, f"{work_queue}-dlq")
        by_sid = {s["Sid"]: s for s in document["Statement"]}

        # a Deny of SendMessage to every AWS principal, with no exception (SQS moves dead letters in by
        # the redrive policy, which is no SendMessage call; the redrive-allow policy names the source)
        nobody = by_sid["NobodySends"]
        assert (nobody["Effect"], nobody["Principal"], nobody["Action"]) == (
            "Deny",
            {"AWS": "*"},
            ["sqs:SendMessage"],
        )
        assert "Condition" not in nobody
        assert not [
            s for s in document["Statement"] if s["Effect"] == "Allow" and "sqs:SendMessage" in s["Action"]
        ]
        assert _consumers(document) == ([drain], [drain])
        for statement in document["Statement"]:
            assert statement["Resource"] == [dlq.outputs["arn"]]


def test_every_queue_has_exactly_one_policy(run: StackRun) -> None:
    # A queue has one policy: two QueuePolicy resources on it would overwrite each other in turn.
    urls = sorted(p.inputs["queueUrl"] for p in run.of_type(POLICY))
    assert urls == sorted(q.outputs["url"] for q in run.of_type("aws:sqs/queue:Queue"))


def test_the_drain_knows_the_result_senders_ids_from_their_role_resources(run: StackRun) -> None:
    # GIVEN the roles allowed to send tool results (the queue policy's senders)
    executor, drain = _role(run, "tool-executor"), _role(run, "dead-letters")
    assert _senders(_policy_of(run, constants.TOOL_RESULTS_QUEUE))[0] == sorted(
        [executor.outputs["arn"], drain.outputs["arn"]]
    )

    # THEN the drain accepts dead results from exactly their sessions: the ids their role resources have
    variables = run.one("aws:lambda/function:Function", "dead-letters-function").inputs["environment"][
        "variables"
    ]
    ids = variables[constants.RESULT_SENDER_ROLE_IDS_ENV].split(",")
    assert sorted(ids) == sorted([executor.outputs["uniqueId"], drain.outputs["uniqueId"]])
    assert all(role_id.startswith("AROA") for role_id in ids)


def test_a_replaced_sending_role_moves_every_reader_of_its_identity_in_the_same_update(run: StackRun) -> None:
    # GIVEN the roles whose identity a queue policy or a sender check names
    bridge, executor, drain = (
        _role(run, part) for part in ("azure-to-aws-bridge", "tool-executor", "dead-letters")
    )
    functions = {
        f.name: f.inputs["environment"]["variables"] for f in run.of_type("aws:lambda/function:Function")
    }
    [app] = run.of_type("azure-native:web:WebApp")
    settings = {s["name"]: s["value"] for s in app.inputs["siteConfig"]["appSettings"]}

    for role in (bridge, executor, drain):
        # THEN each is auto-named and replaced create-before-delete: a replacement is a new role with a
        # new ARN and unique id, so every input below changes in the same `pulumi up`, and the old role
        # (whose sessions may have messages in flight) is deleted only after all of them moved
        assert "name" not in role.inputs
        assert "namePrefix" not in role.inputs
        assert not role.delete_before_replace
    # AND every reader takes the identity from the role resource's output, none from a copy
    assert settings[constants.BRIDGE_ROLE_ARN_ENV] == bridge.outputs["arn"]
    for function in ("tool-executor-function", "dead-letters-function"):
        assert functions[function][constants.BRIDGE_ROLE_ID_ENV] == bridge.outputs["uniqueId"]
    assert _senders(_policy_of(run, constants.TOOL_REQUESTS_QUEUE))[0] == [bridge.outputs["arn"]]
    assert set(functions["dead-letters-function"][constants.RESULT_SENDER_ROLE_IDS_ENV].split(",")) == {
        executor.outputs["uniqueId"],
        drain.outputs["uniqueId"],
    }


def test_nobody_but_the_deployer_may_purge_any_queue(run: StackRun) -> None:
    # A purge empties a queue at once: every pending call's request, or every result a task waits for,
    # or every dead letter before the drain records it. Only the principal that deploys the stack (here
    # the mocks' IAM user) keeps it, for an emergency; any other principal is denied whatever it holds.
    for logical in (
        constants.TOOL_REQUESTS_QUEUE,
        constants.TOOL_RESULTS_QUEUE,
        f"{constants.TOOL_REQUESTS_QUEUE}-dlq",
        f"{constants.TOOL_RESULTS_QUEUE}-dlq",
    ):
        by_sid = {s["Sid"]: s for s in _policy_of(run, logical)["Statement"]}
        denied = by_sid["OnlyTheDeployerPurges"]
        assert (denied["Effect"], denied["Principal"], denied["Action"]) == (
            "Deny",
            {"AWS": "*"},
            ["sqs:PurgeQueue"],
        )
        assert denied["Resource"] == [_queue(run, logical).outputs["arn"]]
        assert denied["Condition"] == {
            "ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:user/deployer"]}
        }


def test_the_deployers_role_is_named_by_its_role_arn_with_any_path() -> None:
    from infra.iam import principal_arn_patterns

    assert principal_arn_patterns("arn:aws:sts::111122223333:assumed-role/Deploy/ci-run-7") == [
        "arn:aws:iam::111122223333:role/Deploy",
        "arn:aws:iam::111122223333:role/*/Deploy",
    ]
    assert principal_arn_patterns("arn:aws-cn:iam::111122223333:user/ops/alex") == [
        "arn:aws-cn:iam::111122223333:user/ops/alex"
    ]
