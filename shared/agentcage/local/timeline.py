"""A task's timeline from its audit log: thoughts, decisions, reservations, tool calls and results.

Every audit event carries the trace id, the step and the agent; :func:`task_timeline` turns them into
:class:`TimelineEntry` rows with a one-line summary, and :func:`render_timeline` prints them with rich.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from agentcage.ledger import AuditEvent, Ledger

__all__ = ["TimelineEntry", "render_timeline", "summarize_event", "task_timeline"]

_STYLES = {
    "thought": "cyan",
    "decision": "magenta",
    "tool_request": "blue",
    "tool_executed": "green",
    "tool_result": "green",
    "tool_denied": "red",
    "tool_circuit_open": "red",
    "circuit_open": "red",
    "breaker_tripped": "bold red",
    "dead_lettered": "bold red",
    "task_failed": "bold red",
    "state": "yellow",
    "approval_requested": "bold yellow",
    "approval_decided": "bold yellow",
}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One row of a timeline."""

    seq: int
    at: str
    step: int | None
    kind: str
    summary: str
    trace_id: str | None
    agent_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return asdict(self)


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        if data.get(name) not in (None, "", [], {}):
            return data[name]
    return None


def _thought(data: dict[str, Any]) -> str:
    calls = ", ".join(str(c.get("tool")) for c in data.get("calls", []) if isinstance(c, dict))
    usage = data.get("usage") or {}
    tokens = f"{usage.get('input_tokens', '?')}+{usage.get('output_tokens', '?')} tokens"
    return f"{data.get('model', '?')} ({tokens}) → {calls or 'answer'}: {data.get('text', '')}"


def _state(data: dict[str, Any]) -> str:
    reason = f" ({data['reason']})" if data.get("reason") else ""
    return f"{data.get('from')} → {data.get('to')}{reason}"


def _decision(data: dict[str, Any]) -> str:
    if isinstance(data.get("decision"), dict):
        data = {**data["decision"], **{k: v for k, v in data.items() if k != "decision"}}
    decision = _first(data, "decision", "outcome", "status")
    tool = _first(data, "tool", "name")
    policies = _first(data, "policies") or []
    reasons = _first(data, "reasons", "reason", "error") or ""
    return f"{tool}: {decision} {policies if policies else ''} {reasons}"


def _tool_event(data: dict[str, Any]) -> str:
    tool = _first(data, "tool")
    status = _first(data, "status", "http_status")
    detail = _first(data, "error", "code", "reservation_id", "approval_id", "args_digest")
    return f"{tool} {status or ''} {detail if detail is not None else ''}"


def _result_sent(data: dict[str, Any]) -> str:
    raw = data.get("envelope")
    envelope: dict[str, Any] = raw if isinstance(raw, dict) else data
    raw_error = envelope.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    return f"{envelope.get('tool')} {envelope.get('status')} {error.get('code') or ''}"


def _task_created(data: dict[str, Any]) -> str:
    raw = data.get("limits")
    limits: dict[str, Any] = raw if isinstance(raw, dict) else {}
    shown = ", ".join(f"{k} {v}" for k, v in limits.items() if k != "deadline")
    return f"{data.get('agent')}: {shown}"


def _reason(data: dict[str, Any]) -> str:
    return str(_first(data, "reason", "message", "tool") or data)


_SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "thought": _thought,
    "state": _state,
    "decision": _decision,
    **dict.fromkeys(
        (
            "tool_request",
            "tool_executed",
            "tool_recovered",
            "tool_result",
            "tool_denied",
            "tool_circuit_open",
            "duplicate_result",
        ),
        _tool_event,
    ),
    "tool_result_sent": _result_sent,
    "tool_result_resent": _result_sent,
    "task_created": _task_created,
    **dict.fromkeys(("dead_lettered", "task_failed", "breaker_tripped", "circuit_open"), _reason),
}


def summarize_event(kind: str, data: dict[str, Any]) -> str:
    """A one-line, human summary of an audit event's data."""
    summary = _SUMMARIES.get(kind)
    return _short(summary(data) if summary is not None else data, 160)


def _entry(event: AuditEvent) -> TimelineEntry:
    data = dict(event.data)
    return TimelineEntry(
        seq=event.seq,
        at=event.at.isoformat(timespec="milliseconds"),
        step=event.step,
        kind=event.kind,
        summary=summarize_event(event.kind, data),
        trace_id=event.trace_id,
        agent_id=event.agent_id,
    )


def task_timeline(ledger: Ledger, task_id: str) -> list[TimelineEntry]:
    """The task's audit log as timeline rows, in order."""
    return [_entry(event) for event in ledger.audit(task_id)]


def render_timeline(console: Console, entries: list[TimelineEntry], *, title: str | None = None) -> None:
    """Print ``entries`` as a table: time, step, kind, summary, and the trace id they share."""
    from rich.markup import escape
    from rich.table import Table

    trace_ids = {entry.trace_id for entry in entries if entry.trace_id}
    caption = (
        f"one trace id: {next(iter(trace_ids))}"
        if len(trace_ids) == 1
        else f"trace ids: {', '.join(sorted(trace_ids)) or 'none'}"
    )
    table = Table(title=title, caption=caption, show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("time", style="dim", no_wrap=True)
    table.add_column("step", justify="right")
    table.add_column("event", no_wrap=True)
    table.add_column("what happened", overflow="fold")
    for entry in entries:
        style = _STYLES.get(entry.kind, "")
        table.add_row(
            str(entry.seq),
            entry.at[11:23],
            "" if entry.step is None else str(entry.step),
            f"[{style}]{entry.kind}[/]" if style else entry.kind,
            escape(entry.summary),
        )
    console.print(table)
