"""The audit events of the request being handled: the last one numbered, and those for its answer.

Every request ends in one write to the ledger: its answer, kept before it is sent
(:mod:`~functions.aws.executor.sent`). The events that describe the outcome (``tool_executed``,
``tool_denied``, ``tool_circuit_open``) are written in that same request
(:meth:`agentcage.ledger.Ledger.claim` with ``audit``), numbered after the task's last event as this
request last saw it (read with the reservation, then each event it appended itself). The audit log is
still the append-only record for people it was; it just costs no requests of its own on the way.

One trail per request, in a context variable: the executor handles records one at a time per thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from agentcage.ledger.claims import AuditNote

__all__ = ["AuditTrail", "audit_trail", "current_trail"]


@dataclass
class AuditTrail:
    """The task's last audit sequence number as this request knows it, and the events for its answer."""

    last_seq: int | None = None
    with_answer: list[AuditNote] = field(default_factory=list)


_CURRENT: ContextVar[AuditTrail | None] = ContextVar("agentcage_executor_audit_trail", default=None)


@contextmanager
def audit_trail() -> Iterator[AuditTrail]:
    """A fresh trail for one request, current until the block ends."""
    trail = AuditTrail()
    token = _CURRENT.set(trail)
    try:
        yield trail
    finally:
        _CURRENT.reset(token)


def current_trail() -> AuditTrail | None:
    """The trail of the request being handled (``None`` outside :func:`audit_trail`)."""
    return _CURRENT.get()
