"""Per-tool circuit breaker rules, as pure functions over a :class:`CircuitRecord`.

The ledger stores one record per tool (shared by every task) and applies these functions inside an
atomic read-modify-write (a lock, a SQLite ``BEGIN IMMEDIATE`` transaction, or a DynamoDB write
conditional on the record's ``version``), so two callers can never both claim the half-open probe::

    closed --N consecutive failures--> open --cool-down passed, first caller--> half_open (probe claimed)
    half_open --probe succeeds--> closed          half_open --probe fails--> open (cool-down restarts)

A probe that never reports (its process died) is given up after ``probe_timeout_seconds`` and the
slot can be claimed again, so a lost probe cannot keep a circuit half-open for ever. A probe that was
claimed but never sent (its reservation was refused) is given back at once with :func:`release_probe`,
so it does not block every other task's probe until that timeout.

What counts as a failure is one rule, :func:`counts_as_failure`, used wherever an outcome is counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "Admission",
    "BreakerSettings",
    "CircuitRecord",
    "CircuitState",
    "admit",
    "counts_as_failure",
    "record_outcome",
    "release_probe",
]


class CircuitState(StrEnum):
    """The three states of a circuit."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerSettings(BaseModel):
    """How many consecutive failures open a circuit and how long it stays open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_threshold: int = Field(default=3, ge=1, le=1000)
    cooldown_seconds: float = Field(default=60.0, gt=0)
    probe_timeout_seconds: float = Field(default=60.0, gt=0)


class CircuitRecord(BaseModel):
    """The stored state of one tool's circuit; ``version`` increases with every change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str
    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = Field(default=0, ge=0)
    opened_at: AwareDatetime | None = None
    probe_claimed_at: AwareDatetime | None = None
    version: int = Field(default=0, ge=0)


class Admission(BaseModel):
    """The answer to "may this tool be called now?"; ``probe`` marks the one half-open trial call.

    ``claimed_at`` is when the probe slot was claimed (the key to give it back with
    :func:`release_probe` if the probe is never sent).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: bool
    probe: bool
    state: CircuitState
    retry_at: AwareDatetime | None = None
    claimed_at: AwareDatetime | None = None


def counts_as_failure(status: int | None, *, egress: bool, timed_out: bool) -> bool:
    """Whether a tool call's outcome counts against its circuit: a timeout, no answer at all
    (``status`` None: the network failed), a 5xx, or a 404 from an egress tool (the vendor's endpoint
    is gone). Any other 4xx is the caller's mistake, not the tool's health, and a 2xx/3xx is a success.
    """
    if timed_out or status is None:
        return True
    return status >= 500 or (egress and status == 404)


def admit(
    record: CircuitRecord, now: datetime, settings: BreakerSettings
) -> tuple[Admission, CircuitRecord | None]:
    """Decide one call; the second item is the record to write (None when nothing changes)."""
    if record.state is CircuitState.CLOSED:
        return Admission(allowed=True, probe=False, state=record.state), None
    if record.state is CircuitState.OPEN:
        opened_at = record.opened_at or now
        reopen_at = opened_at + timedelta(seconds=settings.cooldown_seconds)
        if now < reopen_at:
            return Admission(allowed=False, probe=False, state=record.state, retry_at=reopen_at), None
        return _claim_probe(record, now)
    claimed_at = record.probe_claimed_at
    if claimed_at is not None and now < claimed_at + timedelta(seconds=settings.probe_timeout_seconds):
        retry_at = claimed_at + timedelta(seconds=settings.probe_timeout_seconds)
        return Admission(allowed=False, probe=False, state=record.state, retry_at=retry_at), None
    return _claim_probe(record, now)


def _claim_probe(record: CircuitRecord, now: datetime) -> tuple[Admission, CircuitRecord]:
    claimed = record.model_copy(
        update={"state": CircuitState.HALF_OPEN, "probe_claimed_at": now, "version": record.version + 1}
    )
    return Admission(allowed=True, probe=True, state=CircuitState.HALF_OPEN, claimed_at=now), claimed


def release_probe(record: CircuitRecord, claimed_at: datetime) -> CircuitRecord | None:
    """The record with the probe slot claimed at ``claimed_at`` given back, unsent; None when that
    claim is no longer the current one (it timed out and another caller holds the slot, or an outcome
    was recorded). The circuit goes back to open with its cool-down already over, so the next caller
    claims the probe at once."""
    if record.state is not CircuitState.HALF_OPEN or record.probe_claimed_at != claimed_at:
        return None
    return record.model_copy(
        update={"state": CircuitState.OPEN, "probe_claimed_at": None, "version": record.version + 1}
    )


def record_outcome(
    record: CircuitRecord, ok: bool, now: datetime, settings: BreakerSettings
) -> CircuitRecord:
    """The record after a call finished with ``ok`` (success) or a failure."""
    if ok:
        if record.state is CircuitState.OPEN or (
            record.state is CircuitState.CLOSED and record.consecutive_failures == 0
        ):
            # Closed and clean: nothing to write. Open: a call admitted before the circuit opened
            # reports late, and only the probe may close the circuit.
            return record
        return CircuitRecord(tool=record.tool, version=record.version + 1)
    failures = record.consecutive_failures + 1
    opens = record.state is CircuitState.HALF_OPEN or (
        record.state is CircuitState.CLOSED and failures >= settings.failure_threshold
    )
    update: dict[str, object] = {"consecutive_failures": failures, "version": record.version + 1}
    if opens:
        update |= {"state": CircuitState.OPEN, "opened_at": now, "probe_claimed_at": None}
    return record.model_copy(update=update)
