"""The executor's answers, kept in the ledger before they are sent: the evidence that a result is real.

A ``ToolResult`` travels back over queues that others may be able to send to (the SQS results
queue, Service Bus), so the message itself proves nothing. Whatever answers a tool request on AWS
(the executor, or the dead-letters drain for a request it could not process) first claims the
answer of the request's RESERVATION (:attr:`~agentcage.ledger.claims.ClaimScope.ANSWER`, keyed by the
reservation id: a reservation pays for one call, so it has one answer), with the whole envelope as the
claim's payload; only then is it sent. The coordinator records a result only when the ledger holds
such an answer for the very call it dispatched (its request id AND its reservation), and records the
kept answer, not the message (:func:`kept_answer`). The executor re-sends a kept answer to a retried
request instead of executing it again.

No outbox entry goes with the answer: the tool request itself is its outbox. It stays on its queue
until the answer is sent (the handler fails otherwise), every redelivery re-sends the kept answer, and
the dead-letters drain re-sends it last; an entry would cost a request per call to mark sent and
nothing would ever need to read it.

Only code running as the AWS side's own roles writes these claims; the coordinator never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentcage.envelopes import ToolResult, parse_envelope
from agentcage.errors import AgentcageError
from agentcage.ledger.claims import AuditNote, Claim, ClaimScope

if TYPE_CHECKING:
    from agentcage.ledger.base import Ledger

__all__ = [
    "KeptAnswer",
    "keep_answer",
    "kept_answer",
    "kept_answers",
    "reservation_answer",
]


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """One answer found in the ledger: the reservation it answered and the envelope that was sent."""

    reservation_id: str
    result: ToolResult


def _answer_of(claim: Claim) -> KeptAnswer | None:
    """The answer a claim holds; ``None`` when its payload is not a ToolResult of its task answering
    the request that claimed it (nothing :func:`keep_answer` wrote)."""
    envelope = claim.payload.get("envelope")
    if not isinstance(envelope, dict):
        return None
    try:
        result = parse_envelope(ToolResult, envelope)
    except AgentcageError:
        return None
    if result.request_id != claim.claimant or result.task_id != claim.task_id:
        return None
    return KeptAnswer(claim.key, result)


def keep_answer(
    ledger: Ledger,
    result: ToolResult,
    *,
    reservation_id: str,
    trace_id: str | None = None,
    agent_id: str | None = None,
    audit: Sequence[AuditNote] = (),
    audit_seq: int | None = None,
) -> ToolResult:
    """Keep ``result``, the answer to request ``result.request_id`` carrying ``reservation_id``.

    Returns the answer the ledger keeps for that reservation: ``result``, or the one kept before by an
    earlier delivery, which may answer ANOTHER request id (compare ``request_id``). Raises the ledger's
    error when nothing could be written. The ``audit`` events are written with the answer (numbered
    after ``audit_seq``, the task's last as the caller knows it: :meth:`Ledger.claim`), or after it
    when an earlier answer was kept: they record what this delivery did either way.
    """
    outcome = ledger.claim(
        result.task_id,
        ClaimScope.ANSWER,
        reservation_id,
        claimant=result.request_id,
        payload={
            "envelope": result.model_dump(mode="json"),
            "trace_id": trace_id,
            "agent_id": agent_id,
        },
        audit=audit,
        audit_seq=audit_seq,
    )
    if outcome.won:
        return result
    for note in audit:
        ledger.append_audit(
            result.task_id,
            note.kind,
            note.data,
            trace_id=note.trace_id,
            step=note.step,
            agent_id=note.agent_id,
        )
    kept = _answer_of(outcome.claim)
    return kept.result if kept is not None else result


def reservation_answer(ledger: Ledger, task_id: str, reservation_id: str) -> ToolResult | None:
    """The answer kept for reservation ``reservation_id``, under whichever request id, or ``None``."""
    claim = ledger.get_claim(task_id, ClaimScope.ANSWER, reservation_id)
    kept = _answer_of(claim) if claim is not None else None
    return kept.result if kept is not None else None


def kept_answers(ledger: Ledger, task_id: str) -> list[KeptAnswer]:
    """Every answer kept for the task's requests, in the order they were kept."""
    answers = (_answer_of(claim) for claim in ledger.claims(task_id, ClaimScope.ANSWER))
    return [answer for answer in answers if answer is not None]


def kept_answer(ledger: Ledger, task_id: str, *, request_id: str, reservation_id: str) -> ToolResult | None:
    """The answer kept for request ``request_id`` under reservation ``reservation_id``, or ``None``."""
    kept = reservation_answer(ledger, task_id, reservation_id)
    return kept if kept is not None and kept.request_id == request_id else None
