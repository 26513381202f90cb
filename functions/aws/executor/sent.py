"""Every answer kept in the ledger before it is sent: the coordinator's evidence, and a retry's answer.

The executor keeps every outgoing ToolResult as the ANSWER claim of the request's reservation (one
conditional write, :func:`agentcage.ledger.answers.keep_answer`) BEFORE publishing it. The claim is what the
coordinator checks a result against: a result is recorded only when the ledger holds the executor's
answer for that call's request id and reservation, so a ToolResult sent by anyone else (or an answer the
executor published but never kept) is never recorded. So an answer that cannot be kept is not sent
either: the record stays on the queue and its retry finds the reservation consumed and no answer, which
:mod:`~functions.aws.executor.recovery` handles (a retry within the lease waits, a later one executes
again where that is safe). An answer kept but not sent (the process died, or the results queue refused
it) is sent again by the retry of its request (below), or by the dead-letters drain: the request on its
queue is the answer's outbox.

Once the executor consumed a request's reservation, a second delivery of the request is a replay and
executes nothing. If the results queue refused the first answer after the tool ran, SQS delivers the
request again; it is answered with the kept envelope: same message id, same content, same completion
time. The coordinator records a result once per request, so the copy is a harmless duplicate when the
first send did arrive after all.

Answers are kept by RESERVATION: a reservation pays for one call, whatever message ids carry it.
A request whose reservation's answer is kept under ANOTHER request id (a copy resent with a fresh
message id) executes nothing and is answered ``denied: replay``, naming the request that was answered
and its status. That refusal cannot be kept (the reservation has its answer) and is sent as it is,
under the copy's own message id: the coordinator, which never dispatched that request with that
reservation, ignores it, and it cannot pre-empt the real answer, whose message id differs. It is never
sent the kept answer under its own id: a ToolResult answers exactly one request, and re-issuing one
call's outcome as a second request's would tell the coordinator, and the model, that the call ran twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from agentcage.envelopes import ToolRequest, ToolResult, dump_envelope
from agentcage.errors import AgentcageError, EnvelopeTooLargeError, ReplayError
from agentcage.ledger.answers import keep_answer, reservation_answer
from functions.aws.executor.audit_trail import current_trail

if TYPE_CHECKING:
    from agentcage.ledger import Ledger
    from agentcage.trace import TraceContext

__all__ = [
    "RESENT_EVENT",
    "StoredResult",
    "deliverable",
    "find_stored_result",
    "resend_stored",
    "store_result",
]

RESENT_EVENT: Final = "tool_result_resent"
"""The audit event noting that a stored result was sent again for a retried request."""


@dataclass(frozen=True, slots=True)
class StoredResult:
    """A result found in the ledger for a request answered before: send it again as it is."""

    result: ToolResult


class _Log(Protocol):
    def warning(self, msg: object, *args: object, **kwargs: Any) -> None: ...

    def error(self, msg: object, *args: object, **kwargs: Any) -> None: ...


def deliverable(result: ToolResult) -> ToolResult:
    """``result``, or an ``error`` result in its place when it is too large for the queues."""
    try:
        dump_envelope(result)
    except EnvelopeTooLargeError as error:
        replaced = result.model_dump(mode="json") | {
            "status": "error",
            "result": None,
            "error": {"code": error.code, "message": error.message},
        }
        return ToolResult.model_validate(replaced)
    return result


def store_result(
    ledger: Ledger, request: ToolRequest, trace: TraceContext, result: ToolResult, log: _Log
) -> ToolResult:
    """Keep ``result`` (the whole envelope) before it is sent; returns what to send.

    That is the answer the ledger keeps for this request: ``result``, or the one an earlier delivery
    kept; or ``result`` unkept when the reservation's answer is another request's (the module
    docstring). The outcome's audit events (the request's :mod:`~functions.aws.executor.audit_trail`)
    are written with it. Raises the ledger's error when it cannot keep it (logged): the caller must
    not send an answer the coordinator could not verify; the record stays queued for a retry.
    """
    trail = current_trail()
    notes = list(trail.with_answer) if trail is not None else []
    try:
        kept = keep_answer(
            ledger,
            result,
            reservation_id=request.reservation_id,
            trace_id=trace.trace_id,
            agent_id=request.agent_id,
            audit=notes,
            audit_seq=trail.last_seq if trail is not None else None,
        )
    except AgentcageError as error:
        log.error(  # noqa: TRY400 - an expected outage, the traceback adds nothing
            "the result of %s was not kept, so it is not sent: %s", request.message_id, error.message
        )
        for note in notes:  # what ran is still worth recording, if the ledger takes anything
            with contextlib.suppress(AgentcageError):
                ledger.append_audit(
                    request.task_id, note.kind, note.data, trace_id=note.trace_id, step=note.step,
                    agent_id=note.agent_id,
                )  # fmt: skip
        raise
    return kept if kept.request_id == request.message_id else result


def resend_stored(
    ledger: Ledger, request: ToolRequest, trace: TraceContext, log: _Log
) -> StoredResult | None:
    """For a request refused as a replay (or expired): its stored result to send again, audited.

    Raises :class:`ReplayError` when the request's reservation was answered under another request id.
    """
    stored = reservation_answer(ledger, request.task_id, request.reservation_id)
    if stored is None:
        return None
    if stored.request_id != request.message_id:
        raise ReplayError(
            f"reservation {request.reservation_id} was spent on request {stored.request_id}, answered "
            f"{stored.status}; this request carries the same reservation and executes nothing",
            details={
                "reservation_id": request.reservation_id,
                "answered_request_id": stored.request_id,
                "answered_status": stored.status,
                "recovery": "answered_under_another_request",
            },
        )
    try:
        ledger.append_audit(
            request.task_id,
            RESENT_EVENT,
            stored.summary(),
            trace_id=trace.trace_id,
            step=request.step,
            agent_id=request.agent_id,
        )
    except AgentcageError as error:  # the answer matters more than the note that it went twice
        log.error("audit event %s not recorded: %s", RESENT_EVENT, error.message)  # noqa: TRY400
    log.warning("request %s was answered before; its stored result is sent again", request.message_id)
    return StoredResult(stored)


def find_stored_result(ledger: Ledger, request: ToolRequest) -> ToolResult | None:
    """The result stored for this very request (its message id AND reservation), or ``None``.

    A ledger that cannot be read raises (the record stays on the queue for a retry): answering
    ``replay`` then could lose a result that is stored.
    """
    stored = reservation_answer(ledger, request.task_id, request.reservation_id)
    return stored if stored is not None and stored.request_id == request.message_id else None
