"""A task's timeline from its audit log: thoughts, decisions, reservations, tool calls and results.

Every audit event carries the trace id, the step and the agent; :func:`task_timeline` turns them into
:class:`TimelineEntry` rows with a one-line summary, and :func:`render_timeline` prints them with rich.
"""

from __future__ import annotations

import json
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


def summarize_event(kind: str, data: dict[str, Any]) -> str:
    """A one-line, human summary of an audit event's data."""
    if kind == "thought":
        calls = ", ".join(str(c.get("tool")) for c in data.get("calls", []) if isinstance(c, dict))
        usage = data.get("usage") or {}
        tokens = f"{usage.get('input_tokens', '?')}+{usage.get('output_tokens', '?')} tokens"
        return _short(
            f"{data.get('model', '?')} ({tokens}) → {calls or 'answer'}: {data.get('text', '')}", 160
        )
    if kind == "state":
        reason = f" ({data['reason']})" if data.get("reason") else ""
        return _short(f"{data.get('from')} → {data.get('to')}{reason}", 160)
    if kind == "decision":
        if isinstance(data.get("decision"), dict):
            data = {**data["decision"], **{k: v for k, v in data.items() if k != "decision"}}
        decision = _first(data, "decision", "outcome", "status")
        tool = _first(data, "tool", "name")
        policies = _first(data, "policies") or []
        reasons = _first(data, "reasons", "reason", "error") or ""
        return _short(f"{tool}: {decision} {policies if policies else ''} {reasons}", 160)
    if kind in (
        "tool_request",
        "tool_executed",
        "tool_recovered",
        "tool_result",
        "tool_denied",
        "tool_circuit_open",
        "duplicate_result",
    ):
        tool = _first(data, "tool")
        status = _first(data, "status", "http_status")
        detail = _first(data, "error", "code", "reservation_id", "approval_id", "args_digest")
        return _short(f"{tool} {status or ''} {detail if detail is not None else ''}", 160)
    if kind in ("dead_lettered", "task_failed", "breaker_tripped", "circuit_open"):
        return _short(_first(data, "reason", "message", "tool") or data, 160)
    return _short(data, 160)


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
