"""A task's tool calls as a waterfall across both clouds, from its audit log and its reservations.

Each tool call becomes one :class:`CallRow` of consecutive hops, each ending at a recorded moment:

    decision     the model's thought (Azure)               -> the gate decided (Azure)
    approval     the gate asked for a person               -> a person decided (only for approvals)
    reservation  the decision                               -> the ledger reserved the call's budget
    queue        reserved and sent (Service Bus, bridge, SQS) -> the executor consumed it (AWS)
    execution    consumed                                   -> the executor recorded its outcome (AWS)
    result       executed (SQS, bridge, Service Bus)        -> the coordinator recorded the result (Azure)

The moments are the audit events' ``at`` and the reservation's ``created_at``/``consumed_at`` (the
reservation of a call is the one its checkpointed request names, or an approved call's ``tool_request``
event): both
clouds write them to the one ledger, so nothing here depends on either cloud's clock beyond what the
ledger keeps. A hop whose end was not recorded (a call still in flight, a call refused before it was
sent) is left out rather than guessed; a hop is never negative (clocks of two machines may disagree by
a little, and a waterfall that runs backwards explains nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from agentcage.ledger.models import AuditEvent

__all__ = ["CallRow", "Hop", "Waterfall", "build_waterfall"]

Cloud = Literal["azure", "aws", "person"]
ReservationTimes = Callable[[str], tuple[datetime | None, datetime | None]]
"""reservation id -> (created_at, consumed_at); (None, None) when the ledger has no such reservation."""


@dataclass(frozen=True, slots=True)
class Hop:
    """One stretch of a call's life: its name, where it ran, and when it started and ended."""

    name: str
    cloud: Cloud
    start: datetime
    end: datetime

    @property
    def milliseconds(self) -> float:
        """How long it took."""
        return max(0.0, (self.end - self.start).total_seconds() * 1000)


@dataclass(frozen=True, slots=True)
class CallRow:
    """One tool call: its step, tool and outcome, and its hops in order."""

    step: int | None
    tool: str
    outcome: str
    request_id: str | None
    approval_id: str | None
    hops: tuple[Hop, ...]


@dataclass(frozen=True, slots=True)
class Waterfall:
    """The rows and the time span they are drawn against."""

    start: datetime
    end: datetime
    rows: tuple[CallRow, ...] = field(default_factory=tuple)

    def offset(self, moment: datetime) -> float:
        """Where ``moment`` falls, as a percentage of the span (0-100)."""
        total = (self.end - self.start).total_seconds()
        if total <= 0:
            return 0.0
        return min(100.0, max(0.0, (moment - self.start).total_seconds() / total * 100))


_HOPS: tuple[tuple[str, Cloud], ...] = (
    ("decision", "azure"),
    ("approval", "person"),
    ("reservation", "azure"),
    ("queue", "aws"),
    ("execution", "aws"),
    ("result", "azure"),
)


def _index(events: Iterable[AuditEvent], kind: str, key: str) -> dict[str, AuditEvent]:
    """The first event of ``kind`` for each value of ``data[key]``."""
    found: dict[str, AuditEvent] = {}
    for event in events:
        value = event.data.get(key)
        if event.kind == kind and isinstance(value, str):
            found.setdefault(value, event)
    return found


def _reservation_id(*candidates: AuditEvent | None) -> str | None:
    for event in candidates:
        if event is None:
            continue
        value = event.data.get("reservation_id")
        if isinstance(value, str):
            return value
        envelope = event.data.get("envelope")
        if isinstance(envelope, dict) and isinstance(envelope.get("reservation_id"), str):
            return str(envelope["reservation_id"])
    return None


def _hops(marks: list[tuple[str, datetime | None]], start: datetime) -> tuple[Hop, ...]:
    """Consecutive hops between the recorded marks (a missing mark ends the row)."""
    clouds = dict(_HOPS)
    hops: list[Hop] = []
    previous = start
    for name, moment in marks:
        if moment is None:
            if name == "approval":
                continue  # a call without an approval has no approval hop
            break
        end = max(moment, previous)
        hops.append(Hop(name=name, cloud=clouds[name], start=previous, end=end))
        previous = end
    return tuple(hops)


def build_waterfall(
    events: list[AuditEvent],
    reservations: ReservationTimes,
    reservation_ids: Mapping[str, str] | None = None,
) -> Waterfall:
    """Every tool call the gate decided, with its hops, against the span of the task's audit log.

    ``reservation_ids`` maps a request id to its reservation (from the task's checkpoint).
    """
    planned = reservation_ids or {}
    if not events:
        raise ValueError("a waterfall needs at least one audit event")
    thoughts: dict[int, AuditEvent] = {}
    for event in events:
        if event.kind == "thought" and event.step is not None:
            thoughts[event.step] = event  # the last thought of a step is the one its calls came from
    decided = _index(events, "approval_decided", "approval_id")
    approved_requests = _index(events, "tool_request", "approval_id")
    executed = _index(events, "tool_executed", "request_id")
    results = _index(events, "tool_result", "request_id")
    sent = _index((e for e in events if e.kind == "tool_result_sent"), "tool_result_sent", "request_id")
    rows: list[CallRow] = []
    for event in events:
        if event.kind != "decision":
            continue
        data: dict[str, Any] = dict(event.data)
        request_id = data.get("request_id") if isinstance(data.get("request_id"), str) else None
        approval_id = data.get("approval_id") if isinstance(data.get("approval_id"), str) else None
        thought = thoughts.get(event.step) if event.step is not None else None
        start = thought.at if thought is not None else event.at
        approval = decided.get(approval_id) if approval_id else None
        reservation_id = _reservation_id(
            approved_requests.get(approval_id) if approval_id else None,
            sent.get(request_id) if request_id else None,
        ) or (planned.get(request_id) if request_id else None)
        created, consumed = reservations(reservation_id) if reservation_id else (None, None)
        execution = executed.get(request_id) if request_id else None
        result = results.get(request_id) if request_id else None
        marks: list[tuple[str, datetime | None]] = [
            ("decision", event.at),
            ("approval", approval.at if approval is not None else None),
            ("reservation", created),
            ("queue", consumed),
            ("execution", execution.at if execution is not None else None),
            ("result", result.at if result is not None else None),
        ]
        rows.append(
            CallRow(
                step=event.step,
                tool=str(data.get("tool") or "?"),
                outcome=str(data.get("outcome") or "?"),
                request_id=request_id,
                approval_id=approval_id,
                hops=_hops(marks, start),
            )
        )
    return Waterfall(start=events[0].at, end=max(e.at for e in events), rows=tuple(rows))
