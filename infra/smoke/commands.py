"""The one seam to the command-line tools the smoke drives (``pulumi``, ``az``), so tests can fake them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from agentcage.errors import TransportError

__all__ = ["CommandRunner", "run_command"]

CommandRunner = Callable[[Sequence[str]], str]
"""Runs one command and returns its standard output; raises :class:`TransportError` when it fails."""

_STDERR_TAIL = 2000


def run_command(args: Sequence[str], *, cwd: Path | None = None, timeout_s: float = 3600.0) -> str:
    """Run ``args`` (no shell); its stdout, or :class:`TransportError` with the end of its stderr."""
    if not args:
        raise TransportError("no command to run")
    executable = shutil.which(args[0])
    if executable is None:
        raise TransportError(f"{args[0]} is not on PATH (see infra/DEPLOY.md, Prerequisites)")
    try:
        finished = subprocess.run(  # noqa: S603 - a fixed tool with arguments built by this package, no shell
            [executable, *args[1:]],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TransportError(f"{' '.join(args[:3])} did not finish in {timeout_s:.0f} s") from None
    if finished.returncode != 0:
        said = finished.stderr[-_STDERR_TAIL:].strip()
        raise TransportError(f"{' '.join(args[:3])} exited with {finished.returncode}: {said}")
    return finished.stdout
