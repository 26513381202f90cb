"""An attempt that died between consuming its reservation and answering: recovered once, when safe."""

from __future__ import annotations

import pytest

from agentcage.constants import EXECUTOR_LEASE_SECONDS_ENV
from agentcage.envelopes import ToolRequest, dump_envelope, parse_envelope
from agentcage.errors import ConfigurationError, ReplayError, RetryLaterError
from agentcage.gate import GovernanceGate
from agentcage.ledger import ClaimScope
from functions.aws import tool_executor
from functions.aws.executor import (
    LEASE_MARGIN_SECONDS,
    RECOVERED_EVENT,
    RESENT_EVENT,
    RETRY_SAFE,
    ToolExecutor,
    executor_lease_seconds,
    find_stored_result,
)
from functions.aws.manifest import lambda_spec
from tests.functional.aws.executor.executor_support import (
    REQUESTER,
    ExecutorWorld,
    audit_kinds,
    batch,
    body_of,
    record_for,
)
from tests.functional.aws.executor.recovery_support import assert_denied as _assert_denied
from tests.functional.aws.executor.recovery_support import crash as _crash
from tests.functional.aws.executor.recovery_support import deliver as _deliver
from tests.functional.aws.executor.recovery_support import events as _events
from tests.functional.aws.executor.recovery_support import refund_items as _refund_items
from tests.functional.aws.executor.recovery_support import refunded_cents as _refunded_cents

RETURNS = "sqs_tool_requests_returns"
VOLUMES = "sqs_tool_requests_volumes"
LEASE = lambda_spec("tool-executor").timeout_seconds + LEASE_MARGIN_SECONDS
VOLUME = "vol-0a1b2c3d4e5f60002"


@pytest.mark.parametrize("after_call", [False, True], ids=["died-before-the-call", "died-after-the-call"])
def test_an_approved_refund_whose_attempt_died_is_issued_exactly_once(
    world: ExecutorWorld, after_call: bool
) -> None:
    # GIVEN an approved refund whose executor died after consuming the reservation and spending the
    # approval: before the refunds service was called, or after it issued the refund
    record = world.prepare(record_for(RETURNS, "createRefund"))
    approval_id = body_of(record)["approval_id"]
    items_before, cents_before = _refund_items(world), _refunded_cents(world)
    _crash(world, record, "createRefund", after_call=after_call)
    spent_at = world.ledger.get_approval(approval_id).used_at
    assert spent_at is not None

    # WHEN SQS delivers the request again after the visibility timeout (past the executor's lease)
    world.clock.advance(180)
    recovered = _deliver(world, record)

    # THEN the refund is answered ok, issued once: one refund item, the order refunded once
    assert recovered.status == "ok", recovered.error
    assert isinstance(recovered.result, dict)
    assert recovered.result["amount_cents"] == 18999
    assert _refund_items(world) == items_before + 1
    assert _refunded_cents(world) == cents_before + 18999
    assert world.transport.count("createRefund") == (2 if after_call else 1)
    # ... the approval was not spent again (the first attempt's use stands) ...
    assert world.ledger.get_approval(approval_id).used_at == spent_at
    # ... and the audit says what was recovered and why, before the one stored, sent result
    [event] = _events(world, record, RECOVERED_EVENT)
    assert event["request_id"] == body_of(record)["message_id"]
    assert event["approval_spent_by_first_attempt"] is True
    assert "first attempt died" in event["reason"]
    assert event["retry_safety"] == RETRY_SAFE["createRefund"]
    [executed] = _events(world, record, "tool_executed")
    assert executed["recovered"] is True
    kinds = audit_kinds(world.ledger, body_of(record)["task_id"])
    assert kinds.index(RECOVERED_EVENT) < kinds.index("tool_executed")
    assert find_stored_result(world.ledger, parse_envelope(ToolRequest, record["body"])) == recovered

    # WHEN it is delivered yet again
    again = _deliver(world, record)

    # THEN the stored result goes back byte for byte; nothing executes a third time
    assert dump_envelope(again) == dump_envelope(recovered)
    assert world.transport.count("createRefund") == (2 if after_call else 1)
    assert _refund_items(world) == items_before + 1
    assert len(_events(world, record, RECOVERED_EVENT)) == 1
    assert len(_events(world, record, RESENT_EVENT)) == 1


def test_a_redelivery_within_the_lease_stays_queued_and_executes_nothing(world: ExecutorWorld) -> None:
    # GIVEN a refund consumed by an attempt that may still be running (consumed less than a lease ago)
    record = world.prepare(record_for(RETURNS, "createRefund"))
    _crash(world, record, "createRefund", after_call=False)
    world.clock.advance(LEASE - 1)

    # WHEN a second copy of the request arrives
    response = tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN it is left on the queue (a batch item failure): nothing executed, claimed or answered, so no
    # "replay" answer can reach the coordinator before the first copy's real result
    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert world.results() == []
    assert world.transport.count("createRefund") == 0
    assert _events(world, record, RECOVERED_EVENT) == []
    task_id, reservation_id = body_of(record)["task_id"], body_of(record)["reservation_id"]
    assert world.ledger.get_claim(task_id, ClaimScope.RECOVERY, reservation_id) is None

    # AND when SQS delivers it again after the lease, the same request is recovered after all
    world.clock.advance(2)
    assert _deliver(world, record).status == "ok"
    assert world.transport.count("createRefund") == 1


def test_a_recovery_that_dies_too_is_not_executed_a_third_time(world: ExecutorWorld) -> None:
    # GIVEN a refund whose first attempt died, and whose recovery died as well after the service ran
    record = world.prepare(record_for(RETURNS, "createRefund"))
    items_before = _refund_items(world)
    _crash(world, record, "createRefund", after_call=True)
    world.clock.advance(LEASE + 1)
    _crash(world, record, "createRefund", after_call=True)
    assert len(_events(world, record, RECOVERED_EVENT)) == 1

    # WHEN it is delivered once more, long after
    world.clock.advance(LEASE + 1)
    result = _deliver(world, record)

    # THEN the recovery was claimed once: a replay, executed twice in all and issued once
    _assert_denied(result, "replay")
    assert result.error is not None
    assert "already recovered" in result.error.message
    assert world.transport.count("createRefund") == 2
    assert _refund_items(world) == items_before + 1


def test_the_recovery_claim_is_taken_once(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    _crash(world, record, "getCustomer", after_call=False)
    world.clock.advance(LEASE)
    request = parse_envelope(ToolRequest, record["body"])
    recovery = world.executor.recovery.authorize(
        request, ReplayError("consumed"), now=world.clock(), headers={}
    )
    world.executor.recovery.claim(request, recovery, world.clock())
    # a second claim while the first may still run stays queued; once the lease is past, it is a replay
    world.clock.advance(LEASE - 1)
    with pytest.raises(RetryLaterError, match=r"claimed 44\.0 s ago"):
        world.executor.recovery.claim(request, recovery, world.clock())
    world.clock.advance(1)
    with pytest.raises(ReplayError, match="already recovered"):
        world.executor.recovery.claim(request, recovery, world.clock())
    [claim] = world.ledger.claims(request.task_id, ClaimScope.RECOVERY)
    assert (claim.key, claim.claimant) == (request.reservation_id, request.message_id)


def test_a_read_whose_attempt_died_is_executed_once_more(world: ExecutorWorld) -> None:
    record = world.prepare(record_for(RETURNS, "getCustomer"))
    _crash(world, record, "getCustomer", after_call=True)
    world.clock.advance(LEASE)

    result = _deliver(world, record)

    assert result.status == "ok"
    assert isinstance(result.result, dict)
    assert result.result["customer_id"] == "C-1001"
    assert world.transport.count("getCustomer") == 2
    [event] = _events(world, record, RECOVERED_EVENT)
    assert event["approval_id"] is None
    assert event["retry_safety"].startswith("a read")


def test_an_attempt_that_died_before_spending_the_approval_spends_it_on_recovery(
    world: ExecutorWorld,
) -> None:
    # GIVEN a refund whose reservation was consumed, and the process died before the approval was spent
    record = world.prepare(record_for(RETURNS, "createRefund"))
    world.ledger.consume(body_of(record)["reservation_id"])
    world.clock.advance(LEASE)

    result = _deliver(world, record)

    assert result.status == "ok"
    approval = world.ledger.get_approval(body_of(record)["approval_id"])
    assert approval.used_at == world.clock()
    [event] = _events(world, record, RECOVERED_EVENT)
    assert event["approval_spent_by_first_attempt"] is False


def test_an_approval_spent_before_this_request_existed_does_not_authorise_a_recovery(
    world: ExecutorWorld,
) -> None:
    # GIVEN an approval spent by some other call, then a request carrying it whose reservation was consumed
    template = record_for(RETURNS, "createRefund")
    body = body_of(template)
    world.ensure_task(body["task_id"])
    approval = world.approval(body)
    world.ledger.use_approval(approval.approval_id, approval.args_digest, world.clock())
    world.clock.advance(1)
    record = world.prepare(template, approval_id=approval.approval_id)
    world.ledger.consume(body_of(record)["reservation_id"])
    world.clock.advance(LEASE)

    result = _deliver(world, record)

    _assert_denied(result, "replay")
    assert world.transport.count("createRefund") == 0
    [denied] = _events(world, record, "tool_denied")
    assert denied["details"]["recovery"] == "approval_used_elsewhere"


def test_a_recovery_refuses_an_approval_the_tasks_own_requester_decided(world: ExecutorWorld) -> None:
    # GIVEN a refund approved by the person the task acts for, whose reservation an attempt consumed
    # before it died (the receipt check refuses that approval; recovery must judge it the same way)
    template = record_for(RETURNS, "createRefund")
    body = body_of(template)
    world.ensure_task(body["task_id"])
    approval = world.approval(body, approver=REQUESTER.id)
    record = world.prepare(template, approval_id=approval.approval_id)
    world.ledger.consume(body_of(record)["reservation_id"])
    world.clock.advance(LEASE)

    result = _deliver(world, record)

    _assert_denied(result, "self_approval")
    assert world.transport.count("createRefund") == 0
    assert world.ledger.get_approval(approval.approval_id).used_at is None


def test_a_write_without_an_idempotency_key_is_not_executed_again(world: ExecutorWorld) -> None:
    # GIVEN a refunds service that (in this test) would honour no idempotency key
    world.executor.recovery.retry_safe = {}
    record = world.prepare(record_for(RETURNS, "createRefund"))
    _crash(world, record, "createRefund", after_call=False)
    world.clock.advance(LEASE)

    result = _deliver(world, record)

    # THEN it is a replay whose outcome is stated unknown; nothing is executed
    _assert_denied(result, "replay")
    assert result.error is not None
    assert "unknown" in result.error.message
    assert world.transport.count("createRefund") == 0
    [denied] = _events(world, record, "tool_denied")
    assert denied["details"]["recovery"] == "unsafe"


def test_every_write_and_destructive_tool_of_the_catalog_is_safe_to_recover(gate: GovernanceGate) -> None:
    # Adding a write or destructive tool forces a decision: give it an idempotency key, or leave it out
    # of RETRY_SAFE on purpose (and change this test). Today no catalog write lacks one.
    writes = {name for name, tool in gate.catalog.items() if tool.effect != "read"}
    assert writes == set(RETRY_SAFE)


def test_a_volume_deleted_by_the_attempt_that_died_is_reported_gone_not_deleted_again(
    world: ExecutorWorld,
) -> None:
    record = world.prepare(record_for(VOLUMES, "deleteVolume"))
    _crash(world, record, "deleteVolume", after_call=True)
    world.clock.advance(LEASE)

    result = _deliver(world, record)

    # THEN the service's own answer (404 for the volume) is reported; no second delete is sent
    _assert_denied(result, "not_found")
    assert result.error is not None
    assert VOLUME in result.error.message
    assert world.transport.count("deleteVolume") == 1
    [denied] = _events(world, record, "tool_denied")
    assert denied["details"]["recovery"] == "target_gone"
    assert denied["details"]["target"]["status"] == 404


def test_a_volume_delete_that_died_before_the_call_is_recovered_with_its_tags_resolved_again(
    world: ExecutorWorld,
) -> None:
    record = world.prepare(record_for(VOLUMES, "deleteVolume"))
    _crash(world, record, "deleteVolume", after_call=False)
    world.clock.advance(LEASE)

    result = _deliver(world, record)

    assert result.status == "ok"
    assert result.result == {"volume_id": VOLUME, "deleted": True}
    assert world.transport.count("deleteVolume") == 1
    assert world.transport.count("getVolume") == 2  # the target is resolved from the service again


@pytest.mark.parametrize(
    ("argument", "environ", "expected"),
    [
        (None, {}, float(LEASE)),
        (None, {EXECUTOR_LEASE_SECONDS_ENV: "2"}, 2.0),
        (None, {EXECUTOR_LEASE_SECONDS_ENV: "0.5"}, 0.5),
        (7.0, {EXECUTOR_LEASE_SECONDS_ENV: "2"}, 7.0),
    ],
)
def test_the_lease_is_the_argument_then_the_environment_then_the_manifest(
    argument: float | None, environ: dict[str, str], expected: float
) -> None:
    assert executor_lease_seconds(argument, environ) == expected


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_an_invalid_lease_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match=EXECUTOR_LEASE_SECONDS_ENV):
        executor_lease_seconds(None, {EXECUTOR_LEASE_SECONDS_ENV: value})


def test_the_executor_reads_its_lease_from_the_environment(
    world: ExecutorWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EXECUTOR_LEASE_SECONDS_ENV, "2")
    executor = ToolExecutor(world.executor.gate, world.executor.publisher, logger=world.executor.log)
    assert executor.recovery.lease_seconds == 2.0
    assert world.executor.recovery.lease_seconds == LEASE
