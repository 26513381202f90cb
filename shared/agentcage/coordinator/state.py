"""What a step checkpoint holds, and the conversation rebuilt from it and the recorded results.

A checkpoint is saved once per step (put-if-absent) and holds every turn so far: the model's text,
each tool call it proposed and what the gate made of it (dispatched with its exact ``ToolRequest``,
waiting for an approval, refused locally, or delegated to a specialist). Results are not copied
into it: every call's result lives in the ledger's result slot named by the call's ``request_id``
(executor results, local refusals, approval denials and a specialist's answer alike), written once.
Who advanced the task past a step and the one ``ToolRequest`` an approval was sent as are ledger claims
(``ClaimScope.ADVANCE`` and ``APPROVED_REQUEST``), not results; older deployments kept them among the
results as ``advance-<step>`` and ``approved-<approval id>`` rows, which :class:`ResultRows` still reads
(as those claims) and keeps out of the results while such rows live.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    "ResultRows",
    "StepCheckpoint",
    "Turn",
    "build_conversation",
    "error_content",
    "prompt_digest",
    "result_slot",
]

CallOutcome = Literal["dispatched", "approval", "local", "delegated"]
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

    def decision_event(self) -> dict[str, Any]:
        """The ``decision`` audit event's data for this call (the same for both front doors)."""
        return {
            "call_id": self.call_id,
            "tool": self.tool,
            "args_digest": self.args_digest,
            "outcome": self.outcome,
            "decision": self.decision,
            "request_id": self.request_id,
            "approval_id": self.approval_id,
            "local_result": self.local_result,
            "child_task_id": self.child_task_id,
        }


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


# Rows older deployments kept among the tool results for what are now ledger claims: ``advance-<step>``
# (ClaimScope.ADVANCE), ``approved-<approval id>`` (APPROVED_REQUEST) and the executor's ``recover-``
# (RECOVERY). Nothing writes them any more; a task pending across the deploy may still hold them, so
# they are read as those claims and kept out of the results until their TTL removes them.
_LEGACY_ADVANCE = "advance-"
_LEGACY_APPROVED = "approved-"
_LEGACY_PREFIXES = (_LEGACY_ADVANCE, _LEGACY_APPROVED, "recover-")


@dataclass(frozen=True, slots=True)
class ResultRows:
    """A task's result rows, read once: the calls' results by request id, and any legacy claim rows."""

    results: dict[str, dict[str, Any]]
    legacy: dict[str, ToolResultRecord]

    @classmethod
    def of(cls, records: Sequence[ToolResultRecord]) -> ResultRows:
        """Split the stored rows into results and legacy claim rows."""
        results: dict[str, dict[str, Any]] = {}
        legacy: dict[str, ToolResultRecord] = {}
        for record in records:
            if record.request_id.startswith(_LEGACY_PREFIXES):
                legacy[record.request_id] = record
            else:
                results[record.request_id] = dict(record.result)
        return cls(results, legacy)

    def legacy_advance(self, step: int) -> ToolResultRecord | None:
        """The ``advance-<step>`` row an older deployment wrote when it advanced past ``step``."""
        return self.legacy.get(f"{_LEGACY_ADVANCE}{step}")

    def legacy_approved_request(self, approval_id: str) -> dict[str, Any] | None:
        """The ``ToolRequest`` (stored form) an older deployment sent for ``approval_id``, if any."""
        row = self.legacy.get(f"{_LEGACY_APPROVED}{approval_id}")
        request = row.result.get("request") if row is not None else None
        return dict(request) if isinstance(request, dict) else None


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
