"""Every result kept in the ledger before it is sent, so a retried request gets it back, never a replay.

Once the executor consumed a request's reservation, a second delivery of the request is a replay and
executes nothing. If the results queue refused the first answer after the tool ran, SQS delivers the
request again and, without this module, the only answer left would be ``denied: replay``: the real
result would be lost and the coordinator would wait for ever. So the executor appends the outgoing
envelope to the task's audit log (event ``tool_result_sent``) BEFORE publishing it, and answers a
replayed (or, on a late retry, expired) request whose result is stored with that same envelope: same
message id, same content, same completion time. The coordinator records a result once per request,
so the copy is a harmless duplicate when the first send did arrive after all.

Results are looked up by RESERVATION: a reservation pays for one call, whatever message ids carry it.
A request whose reservation's result is stored under ANOTHER request id (a copy resent with a fresh
message id) executes nothing and is answered ``denied: replay``, naming the request that was answered
and its status. It is not sent the stored result under its own id: a ToolResult answers exactly one
request (its ``request_id``, and the message id derived from it), and re-issuing one call's outcome as
a second request's would tell the coordinator, and the model, that the call ran twice.

A store that fails is logged and the result is sent anyway (the usual case, the queue accepting it,
must not depend on the ledger's audit write); only when both fail is the result lost, and then the
retry answers ``denied: replay``, a failure the coordinator records instead of a silent gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from agentcage.envelopes import ToolRequest, ToolResult, dump_envelope, parse_envelope
from agentcage.errors import AgentcageError, EnvelopeTooLargeError, ReplayError

if TYPE_CHECKING:
    from agentcage.ledger import Ledger
    from agentcage.trace import TraceContext

__all__ = [
    "RESENT_EVENT",
    "SENT_EVENT",
    "StoredResult",
    "deliverable",
    "find_stored_result",
    "resend_stored",
    "store_result",
]

SENT_EVENT: Final = "tool_result_sent"
"""The audit event holding an outgoing ToolResult envelope (written before the send)."""
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
) -> bool:
    """Append ``result`` (the whole envelope) to the task's audit log; False when not stored.

    A ``replay`` denial is not stored (it answers a request whose result was never stored: nothing a
    retry could lose); a ledger that refuses the write is logged, and the caller sends anyway.
    """
    if result.status == "denied" and result.error is not None and result.error.code == "replay":
        return False
    try:
        ledger.append_audit(
            request.task_id,
            SENT_EVENT,
            {
                "request_id": request.message_id,
                "reservation_id": request.reservation_id,
                "message_id": result.message_id,
                "status": result.status,
                "envelope": result.model_dump(mode="json"),
            },
            trace_id=trace.trace_id,
            step=request.step,
            agent_id=request.agent_id,
        )
    except AgentcageError as error:
        log.error(  # noqa: TRY400 - an expected outage, the traceback adds nothing
            "the result of %s was not stored before its send: %s", request.message_id, error.message
        )
        return False
    return True


def resend_stored(
    ledger: Ledger, request: ToolRequest, trace: TraceContext, log: _Log
) -> StoredResult | None:
    """For a request refused as a replay (or expired): its stored result to send again, audited.

    Raises :class:`ReplayError` when the request's reservation was answered under another request id.
    """
    stored = _reservation_result(ledger, request)
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
    stored = _reservation_result(ledger, request)
    return stored if stored is not None and stored.request_id == request.message_id else None


def _reservation_result(ledger: Ledger, request: ToolRequest) -> ToolResult | None:
    """The first result stored for the request's reservation in its task, under any request id.

    A ledger that cannot be read raises, as for :func:`find_stored_result`.
    """
    for event in ledger.audit(request.task_id):
        if event.kind != SENT_EVENT:
            continue
        data: dict[str, Any] = event.data
        if data.get("reservation_id") != request.reservation_id:
            continue
        envelope = data.get("envelope")
        if not isinstance(envelope, dict):
            continue
        try:
            stored = parse_envelope(ToolResult, envelope)
        except AgentcageError:
            continue  # not a result this executor wrote: never re-sent
        if stored.request_id == data.get("request_id") and stored.task_id == request.task_id:
            return stored
    return None
