"""``agentcage tasks list|show``, ``agentcage trace`` and ``agentcage approve|deny``.

Where each reads: ``tasks show``, ``approve`` and ``deny`` go through the coordinator's HTTP API
(``--url``, default http://127.0.0.1:7071), because deciding an approval must run the coordinator's
checks and resume the task. ``tasks list`` and ``trace`` read the ledger of the state directory
directly (``--state-dir``, default .agentcage; or the DynamoDB ledger when ``AGENTCAGE_LEDGER_BACKEND``
says so): the API has no listing route, and the audit log is the ledger's.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from agentcage.constants import LEDGER_BACKEND_ENV
from agentcage.errors import NotFoundError

__all__ = ["open_state_ledger", "register"]


def open_state_ledger(state_dir: str | Path) -> Any:
    """The ledger of a local state directory (or the configured non-SQLite backend)."""
    from agentcage.ledger import open_ledger

    backend = (os.environ.get(LEDGER_BACKEND_ENV) or "sqlite").strip().lower()
    if backend != "sqlite":
        return open_ledger(backend)
    path = Path(state_dir) / "ledger.db"
    if not path.is_file():
        raise NotFoundError(f"no ledger at {path}; run `agentcage dev` (or pass --state-dir)")
    return open_ledger("sqlite", path=path)


def _url_option(parser: argparse.ArgumentParser) -> None:
    from agentcage.local.client import DEFAULT_URL

    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"the coordinator's base URL (default {DEFAULT_URL})"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", default=".agentcage", help="the local state directory (default .agentcage)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def register(subparsers: Any) -> None:
    """Add ``tasks``, ``trace``, ``approve`` and ``deny``."""
    tasks = subparsers.add_parser("tasks", help="list tasks or show one")
    commands = tasks.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND", required=True)
    listing = commands.add_parser("list", help="the newest tasks (from the state directory's ledger)")
    _state_option(listing)
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--state", dest="task_state", help="only tasks in this state")
    listing.set_defaults(handler=_list)
    show = commands.add_parser("show", help="one task as the API shows it")
    show.add_argument("task_id")
    _url_option(show)
    show.set_defaults(handler=_show)

    trace = subparsers.add_parser("trace", help="a task's timeline: thoughts, decisions, calls, results")
    trace.add_argument("task_id")
    _state_option(trace)
    trace.set_defaults(handler=_trace)

    for decision, verb in (("approve", "approve"), ("deny", "deny")):
        parser = subparsers.add_parser(
            decision, help=f"{verb} a pending approval (as the development approver)"
        )
        parser.add_argument("approval_id")
        parser.add_argument("--comment", help="why")
        _url_option(parser)
        parser.set_defaults(handler=_decide, decision=decision)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _list(args: argparse.Namespace) -> int:
    ledger = open_state_ledger(args.state_dir)
    tasks = ledger.list_tasks(limit=args.limit, state=args.task_state)
    if args.json:
        _print_json([t.model_dump(mode="json") for t in tasks])
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"tasks in {args.state_dir}")
    for column in ("task", "agent", "state", "step", "tokens", "tool calls", "created", "why"):
        table.add_column(column)
    for task in tasks:
        why = task.halt_reason or (task.error or {}).get("message") or (task.final_answer or "")
        table.add_row(
            task.task_id,
            task.agent_id,
            task.state.value,
            str(task.step),
            str(task.used.tokens),
            str(task.used.tool_calls),
            task.created_at.strftime("%H:%M:%S"),
            why[:80],
        )
    Console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    from agentcage.local.client import AgentcageClient

    task = AgentcageClient(args.url).get_task(args.task_id)
    if args.json:
        _print_json(task)
        return 0
    from rich.console import Console
    from rich.pretty import Pretty

    console = Console()
    console.print(f"[bold]{task.get('task_id')}[/] [yellow]{task.get('state')}[/]")
    console.print(Pretty(task))
    return 0


def _trace(args: argparse.Namespace) -> int:
    from agentcage.local.timeline import render_timeline, task_timeline

    ledger = open_state_ledger(args.state_dir)
    entries = task_timeline(ledger, args.task_id)
    if args.json:
        task = ledger.get_task(args.task_id)
        _print_json(
            {"task_id": args.task_id, "state": task.state.value, "events": [e.to_dict() for e in entries]}
        )
        return 0
    from rich.console import Console

    render_timeline(Console(), entries, title=f"task {args.task_id}")
    return 0


def _decide(args: argparse.Namespace) -> int:
    from agentcage.local.client import AgentcageClient

    answer = AgentcageClient(args.url).decide(args.approval_id, args.decision, args.comment)
    if args.json:
        _print_json(answer)
    else:
        print(f"{args.approval_id}: {args.decision} recorded ({json.dumps(answer, default=str)[:200]})")
    return 0
