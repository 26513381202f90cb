"""The executor's answers, kept in the ledger before they are sent: the evidence that a result is real.

A ``ToolResult`` travels back over queues that others may be able to send to (the SQS results
queue, Service Bus), so the message itself proves nothing. Whatever answers a tool request on AWS
(the executor, or the dead-letters drain for a request it could not process) first appends the
whole envelope to the task's audit log as a :data:`ANSWER_EVENT`, with the request id and the
reservation it answers, and only then sends it. The coordinator records a result only when the
ledger holds such an answer for the very call it dispatched (its request id AND its reservation),
and records the kept answer, not the message (:func:`kept_answer`). The executor re-sends a kept
answer to a retried request instead of executing it again.

Only code running as the AWS side's own roles writes this event; the coordinator never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from agentcage.envelopes import ToolResult, parse_envelope
from agentcage.errors import AgentcageError

if TYPE_CHECKING:
    from agentcage.ledger.base import Ledger

__all__ = ["ANSWER_EVENT", "KeptAnswer", "keep_answer", "kept_answer", "kept_answers"]

ANSWER_EVENT: Final = "tool_result_sent"
"""The audit event holding an outgoing ToolResult envelope (written before the send)."""


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """One answer found in the ledger: the reservation it answered and the envelope that was sent."""

    reservation_id: str
    result: ToolResult


def keep_answer(
    ledger: Ledger,
    result: ToolResult,
    *,
    reservation_id: str,
    trace_id: str | None,
    agent_id: str | None = None,
) -> None:
    """Append ``result``, the answer to request ``result.request_id`` carrying reservation
    ``reservation_id``, to its task's audit log; raises the ledger's error when it is not kept."""
    ledger.append_audit(
        result.task_id,
        ANSWER_EVENT,
        {
            "request_id": result.request_id,
            "reservation_id": reservation_id,
            "message_id": result.message_id,
            "status": result.status,
            "envelope": result.model_dump(mode="json"),
        },
        trace_id=trace_id,
        step=result.step,
        agent_id=agent_id,
    )


def kept_answers(ledger: Ledger, task_id: str) -> list[KeptAnswer]:
    """Every answer kept for the task's requests, in the order they were kept.

    An event whose envelope is not a valid ToolResult of this task answering the request it names
    is skipped: it is not an answer anything wrote with :func:`keep_answer`.
    """
    answers: list[KeptAnswer] = []
    for event in ledger.audit(task_id):
        if event.kind != ANSWER_EVENT:
            continue
        data: dict[str, Any] = event.data
        envelope, reservation_id = data.get("envelope"), data.get("reservation_id")
        if not isinstance(envelope, dict) or not isinstance(reservation_id, str):
            continue
        try:
            result = parse_envelope(ToolResult, envelope)
        except AgentcageError:
            continue
        if result.request_id == data.get("request_id") and result.task_id == task_id:
            answers.append(KeptAnswer(reservation_id, result))
    return answers


def kept_answer(ledger: Ledger, task_id: str, *, request_id: str, reservation_id: str) -> ToolResult | None:
    """The first answer kept for request ``request_id`` under reservation ``reservation_id``, or ``None``."""
    return next(
        (
            answer.result
            for answer in kept_answers(ledger, task_id)
            if answer.reservation_id == reservation_id and answer.result.request_id == request_id
        ),
        None,
    )
