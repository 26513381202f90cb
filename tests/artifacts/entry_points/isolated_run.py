"""Run an entry-point worker inside one unzipped artifact, in ``python -I -S``, and read its report.

The interpreter is this one (the same Python as the artifact was built for), started isolated:
``-I`` ignores PYTHON* variables, the user site and the script's folder, ``-S`` skips site-packages,
and the environment is exactly the settings handed in (no variable of this process leaks in). The
worker (``workers/<name>.py``) gets its inputs on stdin and answers through ``workers/bootstrap.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["WORKERS_DIR", "WorkerReport", "run_worker"]

WORKERS_DIR = Path(__file__).resolve().parent / "workers"
_BOOTSTRAP = WORKERS_DIR / "bootstrap.py"
_REPORT_PREFIX = "AGENTCAGE-WORKER-REPORT "  # workers/bootstrap.py's
_TIMEOUT_S = 180  # generous: a CPU-bound neighbour may slow the imports severalfold


@dataclass(frozen=True)
class WorkerReport:
    """What a worker answered, and everything needed to say why when it did not."""

    artifact: str
    worker: str
    returncode: int
    payload: dict[str, Any]
    stdout: str
    stderr: str
    missing_modules: list[str] = field(default_factory=list)

    @property
    def answer(self) -> dict[str, Any]:
        """The worker's answer; fails the test naming missing modules or the error otherwise."""
        if self.missing_modules:
            raise AssertionError(
                f"{self.artifact}: {self.worker} could not import module(s) "
                f"{', '.join(sorted(set(self.missing_modules)))} from the artifact\n{self.details()}"
            )
        if "answer" not in self.payload:
            raise AssertionError(f"{self.artifact}: {self.worker} failed\n{self.details()}")
        answer: dict[str, Any] = self.payload["answer"]
        return answer

    @property
    def record_errors(self) -> list[dict[str, Any]]:
        """The exceptions behind the records a batch processor reported as failed."""
        errors: list[dict[str, Any]] = self.payload.get("record_errors", [])
        return errors

    def details(self) -> str:
        """The error, the traceback and the last of the worker's output, for an assertion message."""
        parts = [f"exit code {self.returncode}"]
        parts.extend(f"{key}: {self.payload[key]}" for key in ("error", "traceback") if self.payload.get(key))
        parts.extend(
            f"record error: {error['type']}: {error['message']}\n{error.get('traceback', '')}"
            for error in self.record_errors
        )
        parts.append(f"stderr (last 3000 chars): {self.stderr[-3000:]}")
        parts.append(f"stdout (last 3000 chars): {self.stdout[-3000:]}")
        return "\n".join(parts)


def run_worker(
    artifact: str,
    paths: Sequence[Path],
    worker: str,
    inputs: Mapping[str, Any],
    environment: Mapping[str, str],
    *,
    cwd: Path,
) -> WorkerReport:
    """Run ``workers/<worker>.py`` with only ``paths`` (the artifact) importable; its report."""
    script = WORKERS_DIR / f"{worker}.py"
    completed = subprocess.run(
        [sys.executable, "-I", "-S", str(_BOOTSTRAP), json.dumps([str(p) for p in paths]), str(script)],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        env=dict(environment),
        cwd=cwd,
        timeout=_TIMEOUT_S,
        check=False,
    )
    payload: dict[str, Any] = {}
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(_REPORT_PREFIX):
            payload = json.loads(line[len(_REPORT_PREFIX) :])
            break
    else:
        payload = {"error": "the worker printed no report (it crashed before the bootstrap could answer)"}
    missing = list(payload.get("missing_modules", []))
    for error in payload.get("record_errors", []):
        missing.extend(error.get("missing_modules", []))
    return WorkerReport(
        artifact, worker, completed.returncode, payload, completed.stdout, completed.stderr, missing
    )
