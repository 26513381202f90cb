"""Each tool called through the executor from a documented SQS event: result, trace, audit, metrics."""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.trace import from_xray_header, parse_traceparent
from functions.aws import tool_executor
from functions.aws.services.repository import DomainRepository
from tests.functional.aws.executor.executor_support import (
    DOMAIN_TABLE,
    FIXTURE_TRACE_ID,
    ExecutorWorld,
    audit_kinds,
    batch,
    emf_documents,
    record_for,
)

CASES = [
    ("sqs_tool_requests_returns", "getCustomer"),
    ("sqs_tool_requests_returns", "listRecentOrders"),
    ("sqs_tool_requests_returns", "assessReturnException"),
    ("sqs_tool_requests_returns", "createRefund"),
    ("sqs_tool_request_vendor", "negotiateVendorTerms"),
    ("sqs_tool_requests_volumes", "listVolumes"),
    ("sqs_tool_requests_volumes", "getVolume"),
    ("sqs_tool_requests_volumes", "deleteVolume"),
]


def _check_payload(tool: str, result: Any) -> None:
    checks = {
        "getCustomer": lambda r: r["customer_id"] == "C-1001" and r["tier"] == "gold",
        "listRecentOrders": lambda r: [o["order_id"] for o in r["orders"]][:1] == ["O-50112"],
        "assessReturnException": lambda r: r["band"] in ("low", "medium", "high") and 0 <= r["score"] <= 100,
        "createRefund": lambda r: r["status"] == "issued" and r["amount_cents"] == 18999,
        "negotiateVendorTerms": lambda r: r["vendor_id"] == "V-1042" and r["unit_price_cents"] == 1150,
        "listVolumes": lambda r: (
            {v["volume_id"] for v in r["volumes"]} == {"vol-0a1b2c3d4e5f60002", "vol-0a1b2c3d4e5f60005"}
        ),
        "getVolume": lambda r: r["tags"] == {"env": "dev", "team": "platform"},
        "deleteVolume": lambda r: r == {"volume_id": "vol-0a1b2c3d4e5f60002", "deleted": True},
    }
    assert checks[tool](result), result


@pytest.mark.parametrize(("fixture", "tool"), CASES)
def test_a_governed_request_for_each_tool_executes_and_answers_ok_with_the_trace(
    world: ExecutorWorld, fixture: str, tool: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a live request for the tool (its reservation and, for writes, an approval by a person)
    record = world.prepare(record_for(fixture, tool))

    # WHEN the tool executor's batch handler processes the SQS event
    response = tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN nothing failed, the data service was called once, and an ok result is on the results queue
    assert response == {"batchItemFailures": []}
    assert world.transport.count(tool) == 1
    [delivered] = world.results()
    result = delivered.result
    assert (result.status, result.error, result.tool) == ("ok", None, tool)
    _check_payload(tool, result.result)
    # ... carrying the request's trace id in the envelope, the traceparent attribute and AWSTraceHeader
    assert result.trace.trace_id == FIXTURE_TRACE_ID
    assert parse_traceparent(delivered.attributes["traceparent"]["StringValue"]).trace_id == FIXTURE_TRACE_ID
    assert from_xray_header(delivered.system["AWSTraceHeader"]).trace_id == FIXTURE_TRACE_ID
    # ... the reservation is consumed, and the audit log has the call with trace, task, step and agent
    task_id = result.task_id
    assert world.ledger.get_reservation(world_body(record)["reservation_id"]).status.value == "consumed"
    executed = [e for e in world.ledger.audit(task_id) if e.kind == "tool_executed"]
    assert len(executed) == 1
    assert executed[0].trace_id == FIXTURE_TRACE_ID
    assert (executed[0].step, executed[0].agent_id) == (
        world_body(record)["step"],
        world_body(record)["agent_id"],
    )
    assert executed[0].data["http_status"] in (200, 201)
    # ... and EMF metrics per tool: a call and its latency
    documents = list(emf_documents(capsys.readouterr().out))
    calls = [d for d in documents if "ToolCalls" in d and d.get("tool") == tool]
    latency = [d for d in documents if "ToolLatency" in d and d.get("tool") == tool]
    assert calls
    assert latency
    assert calls[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "agentcage"


def world_body(record: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(record["body"])


def test_a_whole_batch_of_reads_is_processed_and_each_answer_goes_back(world: ExecutorWorld) -> None:
    # GIVEN the three reads of the return-exception fixture in one batch
    records = [
        world.prepare(record_for("sqs_tool_requests_returns", tool))
        for tool in ("getCustomer", "listRecentOrders", "assessReturnException")
    ]

    # WHEN processed together
    response = tool_executor.process_batch(batch(*records), tool_executor=world.executor)

    # THEN each got its own ok result, matched to its request
    assert response == {"batchItemFailures": []}
    results = {d.result.request_id: d.result for d in world.results()}
    assert {world_body(r)["message_id"] for r in records} == set(results)
    assert {r.status for r in results.values()} == {"ok"}
    assert audit_kinds(world.ledger, "task-returns-0001").count("tool_executed") == 3


def test_the_deleted_volume_is_gone_afterwards(world: ExecutorWorld) -> None:
    # GIVEN an approved deletion of the dev scratch volume, executed
    record = world.prepare(record_for("sqs_tool_requests_volumes", "deleteVolume"))
    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN the service no longer has it, and the target's tags were resolved from the service first
    repository = DomainRepository(world.dynamodb, DOMAIN_TABLE)
    assert "vol-0a1b2c3d4e5f60002" not in {v.volume_id for v in repository.list_volumes()}
    resolved = [e for e in world.ledger.audit("task-janitor-0001") if e.kind == "target_resolved"]
    assert resolved[0].data["tags"] == {"env": "dev", "team": "platform"}
    assert [c.operation for c in world.transport.calls] == ["getVolume", "deleteVolume"]


def test_the_lambda_entry_point_builds_its_executor_from_the_environment_once(
    world: ExecutorWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the Lambda's configuration as infra sets it (no API URL: the in-process transport)
    from agentcage.constants import (
        API_BASE_URL_ENV,
        LEDGER_BACKEND_ENV,
        LEDGER_TABLE_ENV,
        TOOL_RESULTS_QUEUE_URL_ENV,
    )
    from tests.functional.aws.executor.executor_support import LEDGER_TABLE

    monkeypatch.setenv(LEDGER_BACKEND_ENV, "dynamodb")
    monkeypatch.setenv(LEDGER_TABLE_ENV, LEDGER_TABLE)
    monkeypatch.setenv(TOOL_RESULTS_QUEUE_URL_ENV, world.results_url)
    monkeypatch.delenv(API_BASE_URL_ENV, raising=False)
    tool_executor.executor.cache_clear()
    records = [world.prepare(record_for("sqs_tool_requests_returns", "getCustomer")) for _ in range(2)]
    try:
        # WHEN Lambda invokes the handler twice
        first = tool_executor.handler(batch(records[0]), LambdaContext())
        second = tool_executor.handler(batch(records[1]), LambdaContext())
        built = tool_executor.executor.cache_info()
    finally:
        tool_executor.executor.cache_clear()

    # THEN both ran, through one executor, and the batch-level metric was flushed as EMF
    assert first == second == {"batchItemFailures": []}
    assert built.misses == 1
    assert [d.result.status for d in world.results()] == ["ok", "ok"]
    received = [d for d in emf_documents(capsys.readouterr().out) if "ToolRequestsReceived" in d]
    assert received
    assert received[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "agentcage"


class LambdaContext:
    function_name = "agentcage-test-tool-executor"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:agentcage-test-tool-executor"
    aws_request_id = "6f1b3c1e-0000-4000-8000-0000000000aa"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
