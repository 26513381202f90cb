"""A task's tool calls as hops across both clouds, from the audit log and the reservations' times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agentcage.console.waterfall import build_waterfall
from agentcage.ledger.models import AuditEvent

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def event(seq: int, ms: int, kind: str, step: int | None = 1, **data: Any) -> AuditEvent:
    return AuditEvent(task_id="task-1", seq=seq, kind=kind, data=data, step=step, at=at(ms))


def test_a_dispatched_call_has_every_hop_in_order_with_its_cloud_and_time() -> None:
    # GIVEN a read call: thought, decision, reserved, consumed by the executor, executed, recorded
    events = [
        event(1, 0, "task_created", None),
        event(2, 10, "thought"),
        event(
            3, 14, "decision", tool="getCustomer", outcome="dispatched", request_id="req-1", approval_id=None
        ),
        event(4, 60, "tool_executed", request_id="req-1", tool="getCustomer"),
        event(5, 62, "tool_result_sent", request_id="req-1", reservation_id="res-1"),
        event(6, 80, "tool_result", request_id="req-1", tool="getCustomer"),
    ]
    reservations = {"res-1": (at(12), at(40))}

    # WHEN the waterfall is built
    waterfall = build_waterfall(events, lambda rid: reservations.get(rid, (None, None)))

    # THEN one row, hops in order; the reservation made before the decision event is an empty hop
    [row] = waterfall.rows
    assert (row.step, row.tool, row.outcome, row.request_id) == (1, "getCustomer", "dispatched", "req-1")
    assert [(h.name, h.cloud, h.milliseconds) for h in row.hops] == [
        ("decision", "azure", 4.0),
        ("reservation", "azure", 0.0),
        ("queue", "aws", 26.0),
        ("execution", "aws", 20.0),
        ("result", "azure", 20.0),
    ]
    assert waterfall.offset(at(40)) == 50.0
    assert waterfall.offset(at(500)) == 100.0


def test_an_approved_call_waits_for_a_person_before_its_reservation() -> None:
    events = [
        event(1, 0, "thought", step=3),
        event(
            2,
            5,
            "decision",
            step=3,
            tool="createRefund",
            outcome="approval",
            request_id="req-9",
            approval_id="task-1.a1",
        ),
        event(3, 1005, "approval_decided", step=3, approval_id="task-1.a1", decision="approved"),
        event(4, 1010, "tool_request", step=3, approval_id="task-1.a1", reservation_id="res-9"),
        event(5, 1100, "tool_executed", step=3, request_id="req-9"),
        event(6, 1120, "tool_result", step=3, request_id="req-9"),
    ]

    waterfall = build_waterfall(events, lambda rid: (at(1008), at(1050)) if rid == "res-9" else (None, None))

    [row] = waterfall.rows
    assert [(h.name, h.cloud, round(h.milliseconds)) for h in row.hops] == [
        ("decision", "azure", 5),
        ("approval", "person", 1000),
        ("reservation", "azure", 3),
        ("queue", "aws", 42),
        ("execution", "aws", 50),
        ("result", "azure", 20),
    ]


def test_a_hop_not_recorded_ends_the_row_instead_of_being_guessed() -> None:
    # GIVEN an approval still pending, and a denied call that never got a reservation
    events = [
        event(1, 0, "thought"),
        event(2, 5, "decision", tool="createRefund", outcome="approval", request_id="r1", approval_id="t.a1"),
        event(3, 6, "decision", tool="deleteVolume", outcome="denied", request_id=None, approval_id=None),
    ]

    waterfall = build_waterfall(events, lambda _: (None, None))

    assert [[h.name for h in row.hops] for row in waterfall.rows] == [["decision"], ["decision"]]
