"""A refund delivered twice refunds once; a failing vendor opens its circuit and then costs no call."""

from __future__ import annotations

import pytest

from agentcage.envelopes import ToolResult, dump_envelope, parse_envelope
from functions.aws import tool_executor
from functions.aws.executor import APPROVAL_ID_HEADER, ARGS_DIGEST_HEADER, InProcessTransport, ServiceRequest
from functions.aws.services import refunds
from functions.aws.services.repository import DomainRepository
from functions.aws.services.vendor import set_vendor_failure_mode
from tests.functional.aws.executor.executor_support import (
    BREAKER,
    DOMAIN_TABLE,
    ExecutorWorld,
    batch,
    body_of,
    emf_documents,
    record_for,
)


def _refunded(world: ExecutorWorld) -> int:
    return DomainRepository(world.dynamodb, DOMAIN_TABLE).get_order("O-50001").refunded_cents


def test_the_executor_sends_the_refunds_services_idempotency_headers() -> None:
    assert (APPROVAL_ID_HEADER, ARGS_DIGEST_HEADER) == (
        refunds.APPROVAL_ID_HEADER,
        refunds.ARGS_DIGEST_HEADER,
    )


def test_a_duplicate_delivery_of_a_refund_refunds_once(world: ExecutorWorld) -> None:
    # GIVEN an approved refund request, delivered twice in one batch and once more later
    record = world.prepare(record_for("sqs_tool_requests_returns", "createRefund"))
    before = _refunded(world)

    first = tool_executor.process_batch(batch(record, record), tool_executor=world.executor)
    later = tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN the refund's answer three times over (the replays get the stored one: same id, same body),
    # and the order was refunded exactly once
    assert first == later == {"batchItemFailures": []}
    answers = {dump_envelope(d.result) for d in world.results()}
    assert len(answers) == 1
    assert parse_envelope(ToolResult, answers.pop()).status == "ok"
    assert world.transport.count("createRefund") == 1
    assert _refunded(world) == before + 18999


def test_the_refunds_service_itself_refunds_once_for_a_repeated_signed_call(world: ExecutorWorld) -> None:
    # GIVEN the exact call the executor made (same approval id and argument digest) sent again,
    # as if the executor had crashed after the call and before consuming could protect it
    record = world.prepare(record_for("sqs_tool_requests_returns", "createRefund"))
    tool_executor.process_batch(batch(record), tool_executor=world.executor)
    [ok] = world.results()
    body = body_of(record)
    tool = world.executor.gate.gate.catalog["createRefund"]
    headers = {APPROVAL_ID_HEADER: body["approval_id"], ARGS_DIGEST_HEADER: body["args_digest"]}
    before = _refunded(world)

    again = InProcessTransport().send(ServiceRequest.for_tool(tool, body["args"], headers))

    # THEN the service answers with the same refund and refunds nothing more
    assert again.status == 201
    assert again.body["refund_id"] == ok.result.result["refund_id"]
    assert _refunded(world) == before


@pytest.mark.parametrize("mode", ["503", "404"])
def test_a_failing_vendor_opens_the_circuit_and_then_is_not_called(
    world: ExecutorWorld, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the vendor endpoint answering 5xx (or 404: an egress tool's endpoint gone)
    set_vendor_failure_mode(world.dynamodb, mode, table_name=DOMAIN_TABLE)
    template = record_for("sqs_tool_request_vendor", "negotiateVendorTerms")
    attempts = BREAKER.failure_threshold + 2

    # WHEN the agent keeps asking (each a fresh, governed request)
    for index in range(attempts):
        record = world.prepare(template, message_id=f"msg-vendor-{index:03d}")
        assert tool_executor.process_batch(batch(record), tool_executor=world.executor) == {
            "batchItemFailures": []
        }

    # THEN the first failures are errors from the vendor, and after the threshold the circuit answers
    # without calling it
    results = sorted((d.result for d in world.results()), key=lambda r: r.request_id)
    statuses = [r.status for r in results]
    assert statuses == ["error"] * BREAKER.failure_threshold + ["circuit_open"] * 2
    expected_code = "vendor_unavailable" if mode == "503" else "vendor_endpoint_not_found"
    assert {r.error.code for r in results[: BREAKER.failure_threshold] if r.error} == {expected_code}
    assert {r.error.code for r in results[BREAKER.failure_threshold :] if r.error} == {"circuit_open"}
    assert world.transport.count("negotiateVendorTerms") == BREAKER.failure_threshold
    output = capsys.readouterr().out
    trips = [d for d in emf_documents(output) if "BreakerTrips" in d]
    assert len(trips) == 1
    assert trips[0]["tool"] == "negotiateVendorTerms"
    denials = [d for d in emf_documents(output) if "ToolDenials" in d]
    assert {d["reason"] for d in denials} == {"circuit_open"}
    assert len(denials) == 2


def test_the_circuit_lets_one_probe_through_after_the_cooldown_and_closes_on_success(
    world: ExecutorWorld,
) -> None:
    set_vendor_failure_mode(world.dynamodb, "503", table_name=DOMAIN_TABLE)
    template = record_for("sqs_tool_request_vendor", "negotiateVendorTerms")
    for index in range(BREAKER.failure_threshold):
        tool_executor.process_batch(
            batch(world.prepare(template, message_id=f"msg-vendor-{index:03d}")), tool_executor=world.executor
        )
    world.results()
    # GIVEN the vendor recovered and the cool-down passed
    set_vendor_failure_mode(world.dynamodb, "none", table_name=DOMAIN_TABLE)
    world.clock.advance(BREAKER.cooldown_seconds + 1)

    record = world.prepare(template, message_id="msg-vendor-probe")
    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    [probe] = world.results()
    assert probe.result.status == "ok"
    assert world.ledger.circuit("negotiateVendorTerms").state.value == "closed"
    executed = [e for e in world.ledger.audit("task-procure-0001") if e.kind == "tool_executed"]
    assert executed[-1].data["probe"] is True


def test_a_client_error_from_an_internal_service_does_not_count_against_its_circuit(
    world: ExecutorWorld,
) -> None:
    # An unknown customer is a 404 from an internal read: the caller's problem, not an outage.
    template = record_for("sqs_tool_requests_returns", "getCustomer")
    for index in range(BREAKER.failure_threshold + 1):
        record = world.prepare(template, message_id=f"msg-nobody-{index}", args={"customer_id": "C-9999"})
        tool_executor.process_batch(batch(record), tool_executor=world.executor)
    results = [d.result for d in world.results()]
    assert {r.status for r in results} == {"error"}
    assert {r.error.code for r in results if r.error} == {"not_found"}
    assert world.ledger.circuit("getCustomer").state.value == "closed"
