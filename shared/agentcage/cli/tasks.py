"""``agentcage tasks list|show``, ``agentcage trace`` and ``agentcage approve|deny``.

Every one of them takes ``--url`` and ``--state-dir``, with one rule:

- ``--url`` given: the command talks to the host at that URL. ``tasks show``, ``approve`` and ``deny``
  use the coordinator's API (so they work against a deployed Function App too); ``tasks list`` and
  ``trace`` use the local host's own read-only routes, which only ``agentcage dev`` serves.
- otherwise the state directory (``--state-dir``, default ``.agentcage``): reading commands read its
  ledger directly (a host may be running on it or not; ``tasks show`` then prints the ledger's record
  of the task rather than the API's view). Deciding resumes the task through the queues, which only
  the running host can do, so ``approve`` and ``deny`` go to the host running on that directory, at
  the URL it recorded there, and say so when none runs.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from agentcage.constants import LEDGER_BACKEND_ENV
from agentcage.errors import NotFoundError, TransportError

__all__ = ["DEFAULT_STATE_DIR", "open_state_ledger", "register"]

DEFAULT_STATE_DIR = ".agentcage"


def open_state_ledger(state_dir: str | Path) -> Any:
    """The ledger of a local state directory (or the configured non-SQLite backend)."""
    from agentcage.ledger import open_ledger

    backend = (os.environ.get(LEDGER_BACKEND_ENV) or "sqlite").strip().lower()
    if backend != "sqlite":
        return open_ledger(backend)
    path = Path(state_dir) / "ledger.db"
    if not path.is_file():
        raise NotFoundError(f"no ledger at {path}; run `agentcage dev` (or pass --state-dir or --url)")
    return open_ledger("sqlite", path=path)


def _where_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="talk to the host at this URL (e.g. http://127.0.0.1:7071); without it, use --state-dir",
    )
    parser.add_argument(
        "--state-dir",
        default=DEFAULT_STATE_DIR,
        help=f"the local state directory, used when --url is not given (default {DEFAULT_STATE_DIR})",
    )
    parser.add_argument(
        "--as",
        dest="principal",
        metavar="PRINCIPAL",
        help="with agentcage dev: act as this development principal (e.g. dev-reviewer); by default the "
        "development requester reads and the development approver decides",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def register(subparsers: Any) -> None:
    """Add ``tasks``, ``trace``, ``approve`` and ``deny``."""
    tasks = subparsers.add_parser("tasks", help="list tasks or show one")
    commands = tasks.add_subparsers(dest="tasks_command", metavar="SUBCOMMAND", required=True)
    listing = commands.add_parser("list", help="the newest tasks")
    _where_options(listing)
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--state", dest="task_state", help="only tasks in this state")
    listing.set_defaults(handler=_list)
    show = commands.add_parser("show", help="one task (the API's view with --url, else the ledger's record)")
    show.add_argument("task_id")
    _where_options(show)
    show.set_defaults(handler=_show)

    trace = subparsers.add_parser("trace", help="a task's timeline: thoughts, decisions, calls, results")
    trace.add_argument("task_id")
    _where_options(trace)
    trace.set_defaults(handler=_trace)

    for decision in ("approve", "deny"):
        parser = subparsers.add_parser(
            decision, help=f"{decision} a pending approval (as the development approver locally)"
        )
        parser.add_argument("approval_id")
        parser.add_argument("--comment", help="why")
        _where_options(parser)
        parser.set_defaults(handler=_decide, decision=decision)


def _client(url: str, principal: str | None = None) -> Any:
    from agentcage.local.client import AgentcageClient

    return AgentcageClient(url, principal=principal)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _list(args: argparse.Namespace) -> int:
    from agentcage.local.state_views import task_list

    if args.url:
        tasks = _client(args.url, args.principal).local_tasks(limit=args.limit, state=args.task_state)
    else:
        tasks = task_list(open_state_ledger(args.state_dir), limit=args.limit, state=args.task_state)
    if args.json:
        _print_json(tasks)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"tasks at {args.url or args.state_dir}")
    for column in ("task", "agent", "requester", "state", "step", "tokens", "tool calls", "created", "why"):
        table.add_column(column)
    for task in tasks:
        used = task.get("used") or {}
        why = task.get("halt_reason") or (task.get("error") or {}).get("message") or task.get("final_answer")
        table.add_row(
            str(task.get("task_id")),
            str(task.get("agent_id")),
            str((task.get("requester") or {}).get("id", "")),
            str(task.get("state")),
            str(task.get("step")),
            str(used.get("tokens", "")),
            str(used.get("tool_calls", "")),
            str(task.get("created_at", ""))[11:19],  # HH:MM:SS of the ISO time
            str(why or "")[:80],
        )
    Console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    from agentcage.local.state_views import task_record

    if args.url:
        task = _client(args.url, args.principal).get_task(args.task_id)
    else:
        task = task_record(open_state_ledger(args.state_dir), args.task_id)
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
    from agentcage.local.state_views import task_trace
    from agentcage.local.timeline import TimelineEntry, render_timeline

    if args.url:
        trace = _client(args.url, args.principal).local_trace(args.task_id)
    else:
        trace = task_trace(open_state_ledger(args.state_dir), args.task_id)
    if args.json:
        _print_json(trace)
        return 0
    from rich.console import Console

    entries = [TimelineEntry(**event) for event in trace.get("events") or []]
    render_timeline(Console(), entries, title=f"task {args.task_id} ({trace.get('state')})")
    return 0


def _decide(args: argparse.Namespace) -> int:
    from agentcage.local.client import host_url_for

    url = args.url or host_url_for(args.state_dir)
    if url is None:
        raise TransportError(
            f"no agentcage dev is running on {Path(args.state_dir).resolve()}: deciding resumes the task, "
            "which needs the running host; start `agentcage dev` there or pass --url"
        )
    try:
        answer = _client(url, args.principal).decide(args.approval_id, args.decision, args.comment)
    except TransportError as error:
        if args.url:
            raise
        raise TransportError(
            f"the host that ran on {Path(args.state_dir).resolve()} does not answer at {url} (was it "
            f"killed?); start `agentcage dev` there again: {error.message}"
        ) from None
    if args.json:
        _print_json(answer)
    else:
        print(f"{args.approval_id}: {args.decision} recorded ({json.dumps(answer, default=str)[:200]})")
    return 0
