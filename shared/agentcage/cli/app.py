"""The ``agentcage`` command: argparse, one module per command group.

A command group is a module with ``register(subparsers)`` that adds its parser and sets
``handler`` (a function of the parsed namespace returning the exit code) on each leaf command. To add
a group (``dev``, ``demo``, ``tasks``, ``trace``, ``approve``, ``deny``), write the module and name it
in :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agentcage import __version__
from agentcage.errors import AgentcageError

__all__ = ["COMMAND_MODULES", "EXIT_INVALID_INPUT", "build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "agentcage.cli.policy",
    "agentcage.cli.dev",
    "agentcage.cli.demo",
    "agentcage.cli.tasks",
)
EXIT_INVALID_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    """The parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="agentcage", description="The cage LLM agents live in when they act across Azure and AWS."
    )
    parser.add_argument("--version", action="version", version=f"agentcage {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for invalid input, as argparse does)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except AgentcageError as error:
        print(f"agentcage: error: {error.message}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    return code
