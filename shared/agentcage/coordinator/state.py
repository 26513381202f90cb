"""What a step checkpoint holds, and the conversation rebuilt from it and the recorded results.

A checkpoint is saved once per step (put-if-absent) and holds every turn so far: the model's text,
each tool call it proposed and what the gate made of it (dispatched with its exact ``ToolRequest``,
waiting for an approval, refused locally, or delegated to a specialist). Results are not copied
into it: every call's result lives in the ledger's result slot named by the call's ``request_id``
(executor results, local refusals, approval denials and a specialist's answer alike), written once.
The same once-only slots hold two claims that are not results: ``advance-<step>`` (who advanced the
task) and ``approved-<approval id>`` (the one ``ToolRequest`` an approval was sent as).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from agentcage.envelopes import canonical_json
from agentcage.ledger.models import ToolResultRecord
from agentcage.models.types import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)

__all__ = [
    "CallOutcome",
    "PlannedCall",
    "StepCheckpoint",
    "Turn",
    "build_conversation",
    "error_content",
    "prompt_digest",
    "result_slot",
]

CallOutcome = Literal["dispatched", "approval", "local", "delegated"]
_ADVANCE_PREFIX = "advance-"
_APPROVED_PREFIX = "approved-"
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class PlannedCall(BaseModel):
    """One proposed tool call and what the step decided for it."""

    model_config = _FROZEN

    call_id: str
    tool: str
    args: dict[str, JsonValue]
    args_digest: str | None = None
    request_id: str
    outcome: CallOutcome
    decision: dict[str, JsonValue] | None = None
    request: dict[str, JsonValue] | None = None
    approval_id: str | None = None
    local_result: dict[str, JsonValue] | None = None
    child_task_id: str | None = None


class Turn(BaseModel):
    """One model turn: what it said and the calls it made."""

    model_config = _FROZEN

    step: int
    text: str | None = None
    calls: tuple[PlannedCall, ...] = ()
    final: bool = False


class StepCheckpoint(BaseModel):
    """The checkpoint data of one step: every turn up to and including it."""

    model_config = _FROZEN

    turns: tuple[Turn, ...] = ()
    stopped: str | None = None

    @property
    def last(self) -> Turn | None:
        """The turn of the step that saved this checkpoint."""
        return self.turns[-1] if self.turns else None

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> StepCheckpoint:
        """The checkpoint from its stored form (an empty one for a task that has none)."""
        return cls.model_validate(dict(data)) if data else cls()


def result_slot(status: str, content: Any, *, tool: str, source: str, **extra: Any) -> dict[str, Any]:
    """The stored form of one call's result (what ``Ledger.record_tool_result`` keeps)."""
    return {"status": status, "content": content, "tool": tool, "source": source, **extra}


def error_content(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The structured error a refused call hands back to the model."""
    return {"error": {"code": code, "message": message, **extra}}


def advance_slot(step: int) -> str:
    """The once-only slot claimed by whoever advances the task past ``step``."""
    return f"{_ADVANCE_PREFIX}{step}"


def approved_slot(approval_id: str) -> str:
    """The once-only slot holding the ``ToolRequest`` sent for an approved call (one per approval)."""
    return f"{_APPROVED_PREFIX}{approval_id}"


def is_advance_slot(request_id: str) -> bool:
    """Whether a result slot is an advance claim rather than a call's result."""
    return request_id.startswith(_ADVANCE_PREFIX)


# Rows left by executors of before the recovery claim became a ledger claim (ClaimScope.RECOVERY, no
# longer among the results): skipped while such rows live (their TTL), then this can go.
_RECOVER_PREFIX = "recover-"


def is_claim_slot(request_id: str) -> bool:
    """Whether a result slot is a once-only claim (advancing, an approved request, the executor's
    recovery of a crashed call) and not a result."""
    return request_id.startswith((_ADVANCE_PREFIX, _APPROVED_PREFIX, _RECOVER_PREFIX))


def results_by_request(records: Sequence[ToolResultRecord]) -> dict[str, dict[str, Any]]:
    """Recorded call results by request id (claims left out)."""
    return {r.request_id: dict(r.result) for r in records if not is_claim_slot(r.request_id)}


def build_conversation(
    system_prompt: str,
    request: str,
    turns: Sequence[Turn],
    results: Mapping[str, Mapping[str, Any]],
) -> list[Message]:
    """The conversation for the next model call: instructions, the request, then each turn and its results."""
    messages: list[Message] = [SystemMessage(content=system_prompt), UserMessage(content=request)]
    for turn in turns:
        calls = tuple(ToolCall(id=c.call_id, name=c.tool, arguments=dict(c.args)) for c in turn.calls)
        messages.append(AssistantMessage(content=turn.text, tool_calls=calls))
        for call in turn.calls:
            found = results.get(call.request_id)
            if found is None:  # a step advances only when complete; kept valid for chat APIs anyway
                missing = error_content("no_result", "no result was recorded for this call")
                found = result_slot("error", missing, tool=call.tool, source="coordinator")
            messages.append(
                ToolResultMessage(
                    tool_call_id=call.call_id,
                    name=call.tool,
                    status=found.get("status", "error"),
                    content=found.get("content"),
                )
            )
    return messages


def prompt_digest(messages: Sequence[Message]) -> str:
    """The sha256 of the canonical JSON of the conversation sent to the model (the thought record's key)."""
    return hashlib.sha256(canonical_json([m.model_dump(mode="json") for m in messages])).hexdigest()
