"""Answering a tool request that failed its envelope schema, when the ledger shows whose it is.

A message that is not a valid ``ToolRequest`` never executes. It is answered (a ``denied`` result
carrying the envelope error's code: a retry could not cure it) only when it names a message id, a
task, a step, a tool, a reservation, an argument digest and an agent that a ``ToolResult`` can carry
or the ledger can check, its SQS ``SenderId`` is the claimed task's bridge session, the reservation
exists in the ledger for that task, tool and digest, and the agent is the task's: the verification of
a valid request, by the same function (:func:`~functions.aws.executor.checks.verify_claimed_body`).
An answer under a claimed id that nothing verifies would be taken for the result of the call that
owns that id. Anything less is left for the dead-letter queue, unanswered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agentcage.envelopes import ToolError, ToolResult
from agentcage.errors import AgentcageError, EnvelopeError
from agentcage.trace import TraceContext, extract_sqs_record, parse_traceparent
from functions.aws.executor.checks import verify_claimed_body
from functions.aws.executor.results import result_message_id

if TYPE_CHECKING:
    from agentcage.ledger import Ledger

__all__ = ["answer_malformed", "claimed_fields"]

_ANSWER_FIELDS = ("message_id", "task_id", "step", "tool", "reservation_id", "args_digest")


def claimed_fields(body: object) -> dict[str, Any] | None:
    """What a malformed request claims about itself that an answer needs (``None`` if not enough)."""
    if not isinstance(body, str):
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not all(name in data for name in _ANSWER_FIELDS):
        return None
    claimed = {name: data[name] for name in _ANSWER_FIELDS}
    claimed["traceparent"] = data.get("traceparent")
    return claimed


def _trace_of(value: object) -> TraceContext | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_traceparent(value)
    except AgentcageError:
        return None


def answer_malformed(
    record: Mapping[str, Any],
    error: EnvelopeError,
    *,
    sender_id: str | None,
    now: datetime,
    ledger: Ledger,
) -> ToolResult | None:
    """The ``denied`` answer to a malformed request, or ``None`` when it cannot be answered.

    A ledger that cannot be read raises (the record stays queued for a retry).
    """
    claimed = claimed_fields(record.get("body"))
    if claimed is None:
        return None
    reservation_id, digest = claimed["reservation_id"], claimed["args_digest"]
    if not isinstance(reservation_id, str) or not isinstance(digest, str):
        return None
    base = _trace_of(claimed["traceparent"]) or extract_sqs_record(record) or TraceContext.new()
    try:
        result = ToolResult(
            message_id=result_message_id(str(claimed["message_id"]), reservation_id),
            request_id=claimed["message_id"],
            task_id=claimed["task_id"],
            step=claimed["step"],
            tool=claimed["tool"],
            status="denied",
            error=ToolError(code=error.code, message=error.message[:4096]),
            traceparent=base.child().traceparent,
            completed_at=now,
        )
    except (ValidationError, AgentcageError):
        return None
    # the answer is built from the same body, so it names the task and reservation that verified
    if verify_claimed_body(ledger, record.get("body"), sender_id) is None:
        return None
    return result
