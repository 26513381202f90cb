"""The ``agentcage`` command line (console script ``agentcage = agentcage.cli:main``)."""

from agentcage.cli.app import COMMAND_MODULES, EXIT_INVALID_INPUT, build_parser, main

__all__ = ["main", "build_parser", "COMMAND_MODULES", "EXIT_INVALID_INPUT"]
