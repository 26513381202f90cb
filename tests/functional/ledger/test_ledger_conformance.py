"""One conformance suite for the ledger's claims, outbox, reservations and records, on every backend.

Each test runs against memory, SQLite and DynamoDB (moto in-process) through the directory's
``ledger`` fixture; :func:`test_every_backend_gives_the_same_answers` also plays one scripted
sequence on the three side by side and fails when any of them answers differently.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agentcage.budget.limits import Usage
from agentcage.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ReplayError,
    ReservationStateError,
    TaskNotFoundError,
)
from agentcage.ledger import (
    ClaimScope,
    Ledger,
    OutboxMessage,
    Reservation,
    ReservationStatus,
    TaskRecord,
    keys,
)
from agentcage.ledger.claims import AuditNote
from tests.functional.ledger.ledger_support import FakeClock, in_process_ledger, new_task, run_threads

BACKENDS = ("memory", "sqlite", "dynamodb")


def _message(n: int = 1) -> OutboxMessage:
    return OutboxMessage(destination="tool-results", message_id=f"result-{n}", body=json.dumps({"n": n}))


# --- claims ---------------------------------------------------------------------------------------
def test_a_claim_is_won_once_and_every_later_caller_gets_the_winner(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a task
    task = new_task(ledger, clock)
    # WHEN two callers claim the same key
    first = ledger.claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-1", payload={"a": 1})
    clock.advance(1)
    second = ledger.claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-2", payload={"a": 2})
    # THEN only the first wins, and the second is handed the first's claim
    assert first.won
    assert not second.won
    assert second.claim == first.claim
    assert (second.claim.claimant, second.claim.payload) == ("m-1", {"a": 1})
    assert ledger.get_claim(task.task_id, "recovery", "r-1") == first.claim


def test_claims_of_other_scopes_keys_and_tasks_are_independent(ledger: Ledger, clock: FakeClock) -> None:
    task, other = new_task(ledger, clock), new_task(ledger, clock)
    outcomes = [
        ledger.claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="a"),
        ledger.claim(task.task_id, ClaimScope.ANSWER, "r-1", claimant="b"),
        ledger.claim(task.task_id, ClaimScope.RECOVERY, "r-2", claimant="c"),
        ledger.claim(other.task_id, ClaimScope.RECOVERY, "r-1", claimant="d"),
    ]
    assert all(outcome.won for outcome in outcomes)
    assert [c.key for c in ledger.claims(task.task_id, ClaimScope.RECOVERY)] == ["r-1", "r-2"]
    assert [c.claimant for c in ledger.claims(task.task_id, "answer")] == ["b"]
    # claims are not tool results: nothing reads them back as one
    assert ledger.tool_results(task.task_id) == []


def test_a_claim_of_an_unknown_scope_or_bad_key_is_refused(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    with pytest.raises(InvalidInputError):
        ledger.claim("not a task id", ClaimScope.ADVANCE, "1", claimant="x")
    with pytest.raises(InvalidInputError):
        ledger.claim(task.task_id, "recover-", "1", claimant="x")
    with pytest.raises(InvalidInputError):
        ledger.claim(task.task_id, ClaimScope.ADVANCE, "", claimant="x")
    with pytest.raises(InvalidInputError):
        ledger.claim(task.task_id, ClaimScope.ADVANCE, "1", claimant="x", ttl_seconds=0)
    assert ledger.get_claim(task.task_id, ClaimScope.ADVANCE, "1") is None


def test_a_leased_claim_lapses_after_its_ttl_but_is_still_held(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    claimed = ledger.claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-1", ttl_seconds=45).claim
    assert claimed.expires_at == claimed.claimed_at + timedelta(seconds=45)
    assert not claimed.lapsed(clock())
    clock.advance(45)
    assert claimed.lapsed(clock())
    assert claimed.age_seconds(clock()) == 45
    # a lapsed claim is not taken over by the ledger: the caller decides what a lapse means
    assert not ledger.claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-2").won


def test_only_the_claimant_completes_a_claim_and_only_once(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    ledger.claim(task.task_id, ClaimScope.ADVANCE, "3", claimant="m-1", ttl_seconds=30)
    with pytest.raises(ConflictError):
        ledger.complete_claim(task.task_id, ClaimScope.ADVANCE, "3", claimant="m-2", result={"x": 1})
    clock.advance(1)
    done = ledger.complete_claim(
        task.task_id, ClaimScope.ADVANCE, "3", claimant="m-1", result={"x": 1}, outbox=[_message(1)]
    )
    assert done.completed
    assert done.result == {"x": 1}
    assert done.completed_at == clock()
    assert not done.lapsed(clock() + timedelta(hours=1))  # a completed claim never lapses
    again = ledger.complete_claim(
        task.task_id, ClaimScope.ADVANCE, "3", claimant="m-1", result={"x": 2}, outbox=[_message(2)]
    )
    assert again == done  # unchanged, and its outbox was not written
    assert [e.message_id for e in ledger.undelivered(task_id=task.task_id)] == ["result-1"]
    with pytest.raises(NotFoundError):
        ledger.complete_claim(task.task_id, ClaimScope.ADVANCE, "4", claimant="m-1", result={})


def test_release_frees_an_uncompleted_claim_of_its_claimant_only(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    ledger.claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-1")
    assert not ledger.release_claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-2")
    assert ledger.release_claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-1")
    assert not ledger.release_claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-1")
    assert ledger.claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-2").won
    ledger.complete_claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-2", result={})
    assert not ledger.release_claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-2")
    assert ledger.get_claim(task.task_id, ClaimScope.RECOVERY, "r-1") is not None


def test_concurrent_claimers_let_exactly_one_win(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    winners: list[str] = []

    def attempt(index: int) -> None:
        outcome = ledger.claim(
            task.task_id, ClaimScope.ANSWER, "r-1", claimant=f"m-{index}", outbox=[_message(index)]
        )
        if outcome.won:
            winners.append(outcome.claim.claimant)

    assert run_threads(8, attempt) == []
    assert len(winners) == 1
    assert ledger.get_claim(task.task_id, ClaimScope.ANSWER, "r-1").claimant == winners[0]  # type: ignore[union-attr]
    # only the winner's message was written with it
    assert [e.message_id for e in ledger.undelivered()] == [f"result-{winners[0][2:]}"]


# --- the outbox -----------------------------------------------------------------------------------
def test_the_outbox_is_written_with_a_won_claim_only(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a claim written with the message that must follow it
    task = new_task(ledger, clock)
    ledger.claim(task.task_id, ClaimScope.ANSWER, "r-1", claimant="m-1", outbox=[_message(1)])
    # WHEN another caller loses the claim with its own message
    ledger.claim(task.task_id, ClaimScope.ANSWER, "r-1", claimant="m-2", outbox=[_message(2)])
    # THEN only the winner's message is waiting to be sent
    pending = ledger.undelivered(task_id=task.task_id)
    assert [(e.message_id, e.destination, e.body, e.delivered) for e in pending] == [
        ("result-1", "tool-results", '{"n": 1}', False)
    ]
    assert pending[0].created_at == clock()


def test_undelivered_entries_are_found_by_age_and_task_until_marked(ledger: Ledger, clock: FakeClock) -> None:
    task, other = new_task(ledger, clock), new_task(ledger, clock)
    ledger.claim(task.task_id, ClaimScope.ANSWER, "r-1", claimant="m-1", outbox=[_message(1)])
    clock.advance(10)
    ledger.claim(other.task_id, ClaimScope.ANSWER, "r-2", claimant="m-2", outbox=[_message(2)])
    clock.advance(5)
    assert [e.message_id for e in ledger.undelivered()] == ["result-1", "result-2"]
    assert [e.message_id for e in ledger.undelivered(older_than_seconds=10)] == ["result-1"]
    assert [e.message_id for e in ledger.undelivered(task_id=other.task_id)] == ["result-2"]
    assert [e.message_id for e in ledger.undelivered(limit=1)] == ["result-1"]
    # WHEN one is marked delivered (twice: idempotent)
    delivered = ledger.mark_delivered(task.task_id, "result-1")
    assert delivered.delivered
    assert delivered.delivered_at == clock()
    clock.advance(1)
    assert ledger.mark_delivered(task.task_id, "result-1").delivered_at == delivered.delivered_at
    # THEN only the other is left
    assert [e.message_id for e in ledger.undelivered()] == ["result-2"]
    assert ledger.undelivered(task_id=task.task_id) == []
    with pytest.raises(NotFoundError):
        ledger.mark_delivered(task.task_id, "result-9")
    with pytest.raises(InvalidInputError):
        ledger.undelivered(limit=0)


def test_an_outbox_entry_written_again_under_its_message_id_stays_as_it_was(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an outbox entry sent and marked delivered, and another waiting to be sent
    task = new_task(ledger, clock)
    ledger.claim(task.task_id, ClaimScope.ADVANCE, "1", claimant="a", outbox=[_message(1), _message(2)])
    delivered = ledger.mark_delivered(task.task_id, "result-1")
    clock.advance(1)
    seen = len(ledger.audit(task.task_id))
    again = [OutboxMessage(destination="agent-steps", message_id=f"result-{n}", body="{}") for n in (1, 2)]
    # WHEN other claims write messages under the same ids (alone, with audit events, on completion)
    assert ledger.claim(task.task_id, ClaimScope.ADVANCE, "2", claimant="a", outbox=again).won
    assert ledger.claim(
        task.task_id,
        ClaimScope.ADVANCE,
        "3",
        claimant="a",
        outbox=[*again, _message(3)],
        audit=[AuditNote("advanced", {})],
        audit_seq=seen,
    ).won
    ledger.complete_claim(task.task_id, ClaimScope.ADVANCE, "3", claimant="a", result={}, outbox=again)
    # THEN the delivered entry is not resurrected, and the waiting one keeps its first content
    assert [(e.message_id, e.destination, e.body) for e in ledger.undelivered(task_id=task.task_id)] == [
        ("result-2", "tool-results", '{"n": 2}'),
        ("result-3", "tool-results", '{"n": 3}'),
    ]
    assert ledger.mark_delivered(task.task_id, "result-1") == delivered
    # AND the claims and their events were written all the same
    assert [c.key for c in ledger.claims(task.task_id, ClaimScope.ADVANCE)] == ["1", "2", "3"]
    assert ledger.audit(task.task_id)[-1].kind == "advanced"


@pytest.mark.parametrize("hint", ["seq", "none"])
def test_a_claim_with_audit_events_on_a_missing_task_is_refused_and_writes_nothing(
    ledger: Ledger, clock: FakeClock, hint: str
) -> None:
    # GIVEN a task id no task has
    task = new_task(ledger, clock)
    missing = task.task_id[:-4] + ("ffff" if not task.task_id.endswith("ffff") else "eeee")
    # WHEN a claim carrying audit events (and a message) is made in it
    with pytest.raises(TaskNotFoundError):
        ledger.claim(
            missing,
            ClaimScope.ANSWER,
            "r-1",
            claimant="m-1",
            outbox=[_message(1)],
            audit=[AuditNote("tool_executed", {})],
            audit_seq=0 if hint == "seq" else None,
        )
    # THEN nothing was written: no claim, no message
    assert ledger.get_claim(missing, ClaimScope.ANSWER, "r-1") is None
    assert ledger.undelivered(task_id=missing) == []


# --- reservations and records ---------------------------------------------------------------------
def test_a_reservation_records_the_agent_it_was_made_for(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    made = ledger.reserve(
        task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer", agent_id=task.agent_id
    )
    assert made.agent_id == "returns-agent"
    assert ledger.get_reservation(made.reservation_id).agent_id == "returns-agent"
    consumed = ledger.consume(made.reservation_id)
    assert consumed.agent_id == "returns-agent"
    assert consumed.status is ReservationStatus.CONSUMED
    with pytest.raises(ReplayError):
        ledger.consume(made.reservation_id)
    unnamed = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
    assert unnamed.agent_id is None  # made before agents were recorded: still readable


def _write_raw(ledger: Ledger, pk: str, sk: str, item: dict[str, Any]) -> None:
    """Store ``item`` as a newer writer would, bypassing the records (each backend's own layout)."""
    from agentcage.ledger.serializable import SerializableLedger

    if isinstance(ledger, SerializableLedger):
        with ledger._transaction(write=True) as store:
            store.put(pk, sk, item)
        return
    from agentcage.ledger.dynamodb import DynamoDBLedger

    assert isinstance(ledger, DynamoDBLedger)
    stored = ledger._get(pk, sk)
    assert stored is not None
    stored["doc"] = {"S": json.dumps(item)}
    ledger.client.put_item(TableName=ledger.table_name, Item=stored)


def test_records_from_a_newer_writer_are_read_and_malformed_ones_refused(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a reservation and a claim stored with a field this version does not know
    task = new_task(ledger, clock)
    made = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
    claim = ledger.claim(task.task_id, ClaimScope.RECOVERY, "r-1", claimant="m-1").claim
    pk = keys.task_pk(task.task_id)
    _write_raw(
        ledger, pk, keys.reservation_sk(made.reservation_id), {**made.model_dump(mode="json"), "zone": "eu-1"}
    )
    _write_raw(ledger, pk, keys.claim_sk("recovery", "r-1"), {**claim.model_dump(mode="json"), "priority": 3})
    # THEN this reader still reads them, as they were
    assert ledger.get_reservation(made.reservation_id) == made
    assert ledger.get_claim(task.task_id, ClaimScope.RECOVERY, "r-1") == claim
    # and a known field with a malformed value is still refused
    broken = {**made.model_dump(mode="json"), "status": "half-consumed"}
    _write_raw(ledger, pk, keys.reservation_sk(made.reservation_id), broken)
    with pytest.raises(ValueError, match="status"):
        ledger.get_reservation(made.reservation_id)


def test_a_task_record_with_an_unknown_field_loads() -> None:
    now = "2030-01-01T12:00:00Z"
    stored = {
        "task_id": "task-" + "a" * 32,
        "agent_id": "returns-agent",
        "environment": "dev",
        "request": "r",
        "limits": {"tokens": 1, "cost_micro_usd": 1, "model_steps": 1, "tool_calls": 1, "deadline": now},
        "created_at": now,
        "updated_at": now,
        "written_by_a_newer_version": {"anything": True},
    }
    assert TaskRecord.model_validate(stored).agent_id == "returns-agent"
    with pytest.raises(ValueError, match="step"):
        TaskRecord.model_validate({**stored, "step": -1})


def test_building_a_record_still_refuses_a_field_it_does_not_have() -> None:
    from agentcage.ledger.validation import build

    with pytest.raises(InvalidInputError) as raised:
        build(Reservation, reservation_id="x", task_id="t", kind="tool", amounts=Usage(), agnet_id="typo")
    assert raised.value.details["problems"][0]["loc"] == ["agnet_id"]


# --- the backends side by side --------------------------------------------------------------------
def _scripted(ledger: Ledger, clock: FakeClock) -> list[Any]:
    """One sequence of claims, outbox, reservations and budget; every answer, ids left out."""
    seen: list[Any] = []

    def note(value: Any) -> None:
        dumped = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
        seen.append(json.loads(json.dumps(dumped, default=str).replace(task.task_id, "<task>")))

    task = new_task(ledger, clock, tokens=100, tool_calls=2)
    first = ledger.claim(
        task.task_id, ClaimScope.RECOVERY, "k", claimant="a", ttl_seconds=5, outbox=[_message()]
    )
    clock.advance(1)
    second = ledger.claim(task.task_id, ClaimScope.RECOVERY, "k", claimant="b", payload={"p": [1, "x"]})
    note([first.won, second.won])
    note(second.claim)
    note(ledger.complete_claim(task.task_id, ClaimScope.RECOVERY, "k", claimant="a", result={"r": None}))
    note(ledger.undelivered())
    note(ledger.mark_delivered(task.task_id, "result-1"))
    reservation = ledger.reserve(task.task_id, Usage(tool_calls=1, tokens=60), kind="tool", tool="t")
    note(ledger.consume(reservation.reservation_id).status)
    for amounts in (Usage(tool_calls=1, tokens=60), Usage(tool_calls=1)):
        try:
            ledger.reserve(task.task_id, amounts, kind="tool", tool="t")
            note("reserved")
        except Exception as error:
            note([type(error).__name__, getattr(error, "details", {}).get("limit")])
    clock.advance(600)
    note(ledger.expire_stale())
    note(ledger.budget_state(task.task_id))
    note([c.key for c in ledger.claims(task.task_id, ClaimScope.RECOVERY)])
    return seen


def test_every_backend_gives_the_same_answers(tmp_path: Path) -> None:
    answers = {}
    for backend in BACKENDS:
        folder = tmp_path / backend
        folder.mkdir()
        clock = FakeClock()
        with in_process_ledger(backend, clock, folder) as ledger:
            answers[backend] = _scripted(ledger, clock)
    assert answers["sqlite"] == answers["memory"]
    assert answers["dynamodb"] == answers["memory"]


def test_consuming_a_reservation_as_seen_is_refused_once_it_changed(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a reservation read by two deliveries
    task = new_task(ledger, clock)
    made = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
    seen = ledger.get_reservation(made.reservation_id)
    # WHEN both consume it as they saw it
    consumed = ledger.consume(made.reservation_id, seen=seen)
    # THEN the second is a replay: the record is no longer what it saw
    assert consumed.status is ReservationStatus.CONSUMED
    assert ledger.get_reservation(made.reservation_id) == consumed
    with pytest.raises(ReplayError):
        ledger.consume(made.reservation_id, seen=seen)
    # AND a released one, seen active, is refused for what it is now
    other = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
    ledger.release(other.reservation_id)
    with pytest.raises(ReservationStateError):
        ledger.consume(other.reservation_id, seen=other)
    with pytest.raises(InvalidInputError):
        ledger.consume(made.reservation_id, seen=other)


def test_dynamodb_reads_a_calls_records_and_consumes_as_seen_in_one_request_each(
    clock: FakeClock, tmp_path: Path
) -> None:
    with in_process_ledger("dynamodb", clock, tmp_path) as ledger:
        task = new_task(ledger, clock)
        made = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
        calls: list[str] = []
        client = ledger.client  # type: ignore[attr-defined]
        client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
        ledger.consume(made.reservation_id, seen=made)
        assert calls == ["UpdateItem"]
        calls.clear()
        records = ledger.call_records(task.task_id, reservation_id=made.reservation_id, tool="getCustomer")
        assert calls == ["TransactGetItems"]
        assert records.reservation is not None
        assert records.reservation.status is ReservationStatus.CONSUMED
        # a closed circuit as read with them admits, and a success on it is counted, without a request
        calls.clear()
        assert records.circuit is not None
        assert ledger.circuit_admit("getCustomer", seen=records.circuit).allowed
        ledger.record_tool_outcome("getCustomer", ok=True, seen=records.circuit)
        assert calls == []


# --- what one call is checked against, read at once -------------------------------------------------
def test_a_calls_records_are_read_together_and_missing_ones_are_none(
    ledger: Ledger, clock: FakeClock
) -> None:
    task = new_task(ledger, clock)
    made = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="createRefund")
    approval = ledger.create_approval(
        task.task_id, step=1, agent_id=task.agent_id, tool="createRefund", args={}, args_digest="d"
    )
    ledger.record_tool_outcome("createRefund", ok=False)

    records = ledger.call_records(
        task.task_id,
        reservation_id=made.reservation_id,
        approval_id=approval.approval_id,
        tool="createRefund",
    )

    assert records.task == ledger.get_task(task.task_id)
    assert records.reservation == made
    assert records.approval == approval
    assert records.circuit == ledger.circuit("createRefund")
    assert records.circuit.consecutive_failures == 1
    other = new_task(ledger, clock)
    missing = ledger.call_records(other.task_id, reservation_id=other.task_id + ".r" + "0" * 20, tool="never")
    assert missing.task == other
    assert missing.reservation is None
    assert missing.approval is None
    assert missing.circuit is not None
    assert (missing.circuit.tool, missing.circuit.consecutive_failures) == ("never", 0)


def test_a_circuit_as_seen_answers_without_a_write_only_when_nothing_changes(
    ledger: Ledger, clock: FakeClock
) -> None:
    seen = ledger.circuit("getCustomer")
    assert ledger.circuit_admit("getCustomer", seen=seen).allowed
    assert ledger.record_tool_outcome("getCustomer", ok=True, seen=seen).state.value == "closed"
    # a failure changes the record: it is counted on the stored one, whatever was seen
    assert ledger.record_tool_outcome("getCustomer", ok=False, seen=seen).consecutive_failures == 1
    assert ledger.circuit("getCustomer").consecutive_failures == 1
    # an open circuit past its cool-down changes when admitted (the probe): claimed on the stored record
    for _ in range(2):
        ledger.record_tool_outcome("getCustomer", ok=False)
    clock.advance(31)
    opened = ledger.circuit("getCustomer")
    first = ledger.circuit_admit("getCustomer", seen=opened)
    second = ledger.circuit_admit("getCustomer", seen=opened)
    assert first.probe
    assert not second.allowed  # the probe is taken: the stale view did not let a second one through


def test_a_dispatched_calls_reservation_records_its_request_and_must_name_agent_and_digest(
    ledger: Ledger, clock: FakeClock
) -> None:
    task = new_task(ledger, clock)
    made = ledger.reserve(
        task.task_id,
        Usage(tool_calls=1),
        kind="tool",
        tool="getCustomer",
        args_digest="d" * 64,
        agent_id=task.agent_id,
        request_id="msg-1",
    )
    assert ledger.get_reservation(made.reservation_id).request_id == "msg-1"
    for missing in ({"args_digest": None}, {"agent_id": None}, {"kind": "model"}):
        named: dict[str, Any] = {"kind": "tool", "args_digest": "d" * 64, "agent_id": task.agent_id}
        with pytest.raises(InvalidInputError):
            ledger.reserve(
                task.task_id, Usage(tool_calls=1), tool="getCustomer", request_id="msg-2", **(named | missing)
            )


# --- audit events written with a claim ----------------------------------------------------------------
@pytest.mark.parametrize("hint", ["current", "stale", "none"])
def test_a_won_claim_appends_its_audit_events_in_order_after_the_last(
    ledger: Ledger, clock: FakeClock, hint: str
) -> None:
    # GIVEN a task with events, read by the caller (and, for a stale read, one more event after it)
    task = new_task(ledger, clock)  # its `state` event is seq 1
    made = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
    seen = ledger.call_records(task.task_id, reservation_id=made.reservation_id).audit_seq
    assert seen == len(ledger.audit(task.task_id))
    if hint == "stale":
        ledger.append_audit(task.task_id, "meanwhile", {})
    notes = [AuditNote("tool_executed", {"n": 1}, step=1), AuditNote("note", {"n": 2}, agent_id="a")]
    # WHEN a claim is won with two events
    outcome = ledger.claim(
        task.task_id,
        ClaimScope.ANSWER,
        made.reservation_id,
        claimant="m-1",
        audit=notes,
        audit_seq=None if hint == "none" else seen,
    )
    # THEN they follow every earlier event, numbered 1, 2, 3, ... without a gap
    assert outcome.won
    events = ledger.audit(task.task_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [(e.kind, e.data, e.step, e.agent_id) for e in events[-2:]] == [
        ("tool_executed", {"n": 1}, 1, None),
        ("note", {"n": 2}, None, "a"),
    ]
    # AND a later append continues after them
    assert ledger.append_audit(task.task_id, "after", {}).seq == len(events) + 1
    # AND a lost claim writes none of its events
    lost = ledger.claim(
        task.task_id, ClaimScope.ANSWER, made.reservation_id, claimant="m-2", audit=notes, audit_seq=seen
    )
    assert not lost.won
    assert len(ledger.audit(task.task_id)) == len(events) + 1


def test_dynamodb_writes_a_claim_and_its_audit_events_in_one_request(
    clock: FakeClock, tmp_path: Path
) -> None:
    with in_process_ledger("dynamodb", clock, tmp_path) as ledger:
        task = new_task(ledger, clock)
        made = ledger.reserve(task.task_id, Usage(tool_calls=1), kind="tool", tool="getCustomer")
        seen = ledger.call_records(task.task_id, reservation_id=made.reservation_id).audit_seq
        calls: list[str] = []
        ledger.client.meta.events.register(  # type: ignore[attr-defined]
            "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
        )
        ledger.claim(
            task.task_id,
            ClaimScope.ANSWER,
            made.reservation_id,
            claimant="m-1",
            audit=[AuditNote("tool_executed", {})],
            audit_seq=seen,
        )
        assert calls == ["TransactWriteItems"]
