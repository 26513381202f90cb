"""Answering a tool request that failed its envelope schema, when it says whom to answer.

A message that is not a valid ``ToolRequest`` never executes. If it still names a message id, a
task, a step and a tool that a ``ToolResult`` can carry (and, when the SQS ``SenderId`` is a role
session, that session is the claimed task's), the coordinator is told at once with a ``denied``
result carrying the envelope error's code; a retry could not cure it. Anything less (not JSON, no
task to answer to, a sender that is not the task) cannot be answered and is left for the
dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from agentcage.envelopes import ToolError, ToolResult
from agentcage.errors import AgentcageError, EnvelopeError
from agentcage.federation import session_name_from_sender_id, session_name_matches
from agentcage.trace import TraceContext, extract_sqs_record, parse_traceparent
from functions.aws.executor.results import result_message_id

__all__ = ["answer_malformed", "claimed_fields"]

_ANSWER_FIELDS = ("message_id", "task_id", "step", "tool")


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
    record: Mapping[str, Any], error: EnvelopeError, *, sender_id: str | None, now: datetime
) -> ToolResult | None:
    """The ``denied`` answer to a malformed request, or ``None`` when it cannot be answered."""
    claimed = claimed_fields(record.get("body"))
    if claimed is None:
        return None
    base = _trace_of(claimed["traceparent"]) or extract_sqs_record(record) or TraceContext.new()
    try:
        result = ToolResult(
            message_id=result_message_id(str(claimed["message_id"])),
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
    session = session_name_from_sender_id(sender_id)
    if session is not None and not session_name_matches(session, result.task_id):
        return None
    return result
