"""``agentcage demo``: start the local host and play the three scenarios against it, checked."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcage.cli.dev import add_host_options, config_from_args, configure_logging

if TYPE_CHECKING:
    from rich.console import Console

    from agentcage.local.demo import ScenarioResult

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser(
        "demo", help="play the return exception and both incidents on the local runtime, checked"
    )
    parser.add_argument("--port", type=int, default=0, help="port of its own server (default: a free one)")
    add_host_options(parser, default_state_dir=None)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=("return_exception", "runaway_vendor", "janitor"),
        help="play only this scenario (repeatable; default all three)",
    )
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait on each task step")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from agentcage.local import LocalHost
    from agentcage.local.demo import DemoRunner

    # The timelines show what the runtime's warnings would say (breakers, failing vendors): keep the
    # console for them and the outcome; AGENTCAGE_LOG_LEVEL=WARNING brings the log lines back.
    configure_logging("ERROR")
    console = Console(stderr=args.json)
    # With --json, stdout carries only the result: the functions' own log lines (Powertools writes
    # to stdout, as Lambda expects) go to stderr while the host runs.
    redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with redirect, tempfile.TemporaryDirectory(prefix="agentcage-demo-") as scratch:
        state_dir = args.state_dir or str(Path(scratch) / "state")
        host = LocalHost(config_from_args(args, port=args.port, state_dir=state_dir))
        with console.status(
            "starting the local runtime (functions, queues, ledger, DynamoDB with seed data)"
        ) as status:
            host.start()
            try:
                console.print(
                    f"[green]local runtime up[/] at {host.url}; scripted offline model; state in {state_dir}"
                )
                runner = DemoRunner(host, timeout_s=args.timeout, on_status=status.update)
                results = runner.run(args.scenario)
            finally:
                host.stop()
    if args.json:
        print(
            json.dumps(
                {"passed": all(r.passed for r in results), "scenarios": [r.to_dict() for r in results]}
            )
        )
    else:
        for result in results:
            _print_scenario(console, result)
        _print_summary(console, results)
    return 0 if all(r.passed for r in results) else 1


def _print_scenario(console: Console, result: ScenarioResult) -> None:
    from rich.markup import escape
    from rich.rule import Rule

    from agentcage.local.timeline import render_timeline

    console.print(Rule(f"[bold]{result.name}[/]"))
    console.print(f"task {result.task_id} -> [bold]{result.state}[/]")
    render_timeline(console, result.timeline)
    console.print(f"[bold]outcome:[/] {escape(result.outcome)}")
    for check in result.checks:
        mark = "[green]✓[/]" if check.passed else "[red]✗[/]"
        detail = "" if check.passed else f" [dim]({escape(check.detail)})[/]"
        console.print(f"  {mark} {check.description}{detail}")


def _print_summary(console: Console, results: list[ScenarioResult]) -> None:
    from rich.table import Table

    table = Table(title="agentcage demo")
    for column in ("scenario", "expected", "state", "checks", "seconds", "result"):
        table.add_column(column)
    for result in results:
        held = sum(check.passed for check in result.checks)
        table.add_row(
            result.name,
            result.expected,
            result.state,
            f"{held}/{len(result.checks)}",
            f"{result.seconds:.1f}",
            "[green]as expected[/]" if result.passed else "[red]NOT as expected[/]",
        )
    console.print(table)
