"""The ``agentcage`` command: argparse, one module per command group.

A command group is a module with ``register(subparsers)`` that adds its parser and sets
``handler`` (a function of the parsed namespace returning the exit code) on each leaf command. To add
a group (``dev``, ``demo``, ``tasks``, ``trace``, ``approve``, ``deny``), write the module and name it
in :data:`COMMAND_MODULES`.

An :class:`~agentcage.errors.AgentcageError` is reported, never a traceback: one line
``agentcage: error: <code>: <message>`` on stderr (and, for a command run with ``--json``, the body
``{"error": {"code", "message", "details"?}}`` on stdout), with the exit code of its kind:
:data:`EXIT_INVALID_INPUT` (2) for invalid input or configuration (as argparse exits for a bad
option), :data:`EXIT_NOT_FOUND` (3) for an unknown task or approval, :data:`EXIT_UNREACHABLE` (69,
``EX_UNAVAILABLE``) when the host or service cannot be reached, and 1 for any other refusal. A
command's own "no" (a failed demo check) is 1 too.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from agentcage import __version__
from agentcage.errors import (
    AgentcageError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    TransportError,
)

__all__ = [
    "COMMAND_MODULES",
    "EXIT_FAILED",
    "EXIT_INVALID_INPUT",
    "EXIT_NOT_FOUND",
    "EXIT_UNREACHABLE",
    "build_parser",
    "exit_code_for",
    "main",
]

COMMAND_MODULES: tuple[str, ...] = (
    "agentcage.cli.policy",
    "agentcage.cli.dev",
    "agentcage.cli.demo",
    "agentcage.cli.tasks",
)
EXIT_FAILED = 1
EXIT_INVALID_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_UNREACHABLE = 69


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
        body = _error_body(error)
        print(f"agentcage: error: {body['code']}: {body['message']}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"error": body}, default=str), flush=True)
        return exit_code_for(error)
    return code


def exit_code_for(error: AgentcageError) -> int:
    """The exit code for an error of this kind (an HTTP API's answer goes by its status)."""
    status = getattr(error, "http_status", None)
    if isinstance(error, NotFoundError) or status == 404:
        return EXIT_NOT_FOUND
    if isinstance(error, InvalidInputError | ConfigurationError) or status in (400, 405, 413, 415):
        return EXIT_INVALID_INPUT
    if isinstance(error, TransportError):
        return EXIT_UNREACHABLE
    return EXIT_FAILED


def _error_body(error: AgentcageError) -> dict[str, Any]:
    code = getattr(error, "error_code", None) or error.code  # an API's answer names its own code
    message = getattr(error, "api_message", None) or error.message
    body: dict[str, Any] = {"code": code, "message": message}
    if error.details:
        body["details"] = error.details
    return body
