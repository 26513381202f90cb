"""How a call's outcome reads to an MCP client and its model: one tool result, never a protocol error.

- done: the result's content as JSON text and ``structuredContent``; ``isError`` unless it is ``ok``
  (a policy denial, an open circuit, invalid arguments with their problems: the structured reason).
- approval_required: ``isError`` with ``{"status": "approval_required", "approval_id", "approval_url",
  "reasons"}``; a person decides in the console, and the same call again returns the outcome.
- pending: not an error; ``{"status": "pending", "task_id", "call_id"}``: the same call again (same
  tool and arguments) waits for the same result, it never runs twice.
- ended: ``isError`` with the task's halt reason (an exhausted budget, a loop, a circuit).

Every result's ``_meta`` names the task and the call (``agentcage/task_id``, ``agentcage/call_id``), so
``GET /api/tasks/{id}`` finds them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import mcp_types as types

from agentcage.coordinator.external import ExternalCall
from agentcage.errors import AgentcageError

__all__ = ["TASK_META_KEY", "error_result", "tool_result"]

TASK_META_KEY = "agentcage/task_id"
CALL_META_KEY = "agentcage/call_id"


def tool_result(outcome: ExternalCall) -> types.CallToolResult:
    """The MCP result of ``outcome``."""
    task = outcome.task
    call = outcome.call
    ids = {"task_id": task.task_id, "call_id": call.request_id if call else None}
    if outcome.status == "done" and outcome.result is not None:
        status = str(outcome.result.get("status") or "error")
        content = outcome.result.get("content")
        body = content if isinstance(content, dict) else {"result": content}
        return _result(body, is_error=status != "ok", ids=ids, status=status)
    if outcome.status == "approval_required" and call is not None:
        body = {
            "status": "approval_required",
            "approval_id": call.approval_id,
            "approval_url": outcome.approval_url,
            "reasons": list(outcome.reasons),
            "message": "a person must approve this call in the console; then call it again with the same "
            "arguments to get its result",
            **ids,
        }
        return _result(body, is_error=True, ids=ids)
    if outcome.status == "pending":
        body = {
            "status": "pending",
            "message": "the call is running; call it again with the same arguments to get its result",
            **ids,
        }
        return _result(body, is_error=False, ids=ids)
    reason = task.halt_reason or f"the task is {task.state.value}"
    body = {"status": "ended", "error": {"code": "task_ended", "message": reason}, **ids}
    return _result(body, is_error=True, ids=ids)


def error_result(error: AgentcageError, *, task_id: str | None = None) -> types.CallToolResult:
    """A refusal before any call was made (an unknown agent, a task that is not the caller's)."""
    body: dict[str, Any] = {"error": {"code": error.code, "message": error.message}}
    if error.details:
        body["error"]["details"] = json.loads(json.dumps(error.details, default=str))
    return _result(body, is_error=True, ids={"task_id": task_id, "call_id": None})


def _result(
    body: Mapping[str, Any], *, is_error: bool, ids: Mapping[str, Any], status: str | None = None
) -> types.CallToolResult:
    structured = dict(body)
    if status is not None:
        structured.setdefault("status", status)
    text = json.dumps(structured, ensure_ascii=False, separators=(",", ":"), default=str)
    meta = {TASK_META_KEY: ids.get("task_id"), CALL_META_KEY: ids.get("call_id")}
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content=structured,
        is_error=is_error,
        _meta={k: v for k, v in meta.items() if v is not None},
    )
