"""The smoke's pieces against the local runtime: one flow in its own interpreter, and what it emitted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentcage.ledger.testing import moto_server
from infra.smoke.insights import LogEvent

PROJECT_ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class LocalRun:
    """One return-exception flow driven by the smoke's driver, and what the code emitted meanwhile."""

    summary: dict[str, Any]
    lambda_events: list[LogEvent]  # the Lambdas' stdout lines: what CloudWatch would store
    telemetry_rows: list[dict[str, Any]]  # what Application Insights would store, as workspace rows

    @property
    def trace_id(self) -> str:
        return str(self.summary["trace_id"])

    @property
    def task_id(self) -> str:
        return str(self.summary["task_id"])


def _lambda_events(stdout: str) -> list[LogEvent]:
    """Each stdout line, in the log group of the Powertools service that printed it (JSON or not)."""
    events = []
    for line in stdout.splitlines():
        try:
            service = json.loads(line).get("service", "unknown")
        except (ValueError, AttributeError):
            service = "unknown"
        events.append(LogEvent(line, f"/aws/lambda/{service}"))
    return events


@pytest.fixture(scope="session")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> LocalRun:
    """``tests.integration.smoke.local_capture`` in a subprocess (it sets process-wide telemetry)."""
    work = tmp_path_factory.mktemp("smoke")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AGENTCAGE_", "OTEL_"))}
    env.update(
        AWS_ACCESS_KEY_ID="moto",
        AWS_SECRET_ACCESS_KEY="moto",
        AWS_DEFAULT_REGION="us-east-1",
        # Lambda's default: Powertools logs INFO (the local runtime's own default is quieter).
        POWERTOOLS_LOG_LEVEL="INFO",
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
        OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="otel",
        # The driver's own HTTP client spans would carry the task's trace into the rows (its traceparent
        # starts the trace); in the cloud the smoke's process exports nothing, so neither may it here.
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="requests,urllib,urllib3",
        TMPDIR=str(work),  # the exporter's offline store for what the unreachable endpoint refused
    )
    out = work / "emitted.json"
    played = subprocess.run(
        [sys.executable, "-m", "tests.integration.smoke.local_capture", str(out)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert played.returncode == 0, played.stderr[-4000:]
    emitted = json.loads(out.read_text(encoding="utf-8"))
    return LocalRun(emitted["summary"], _lambda_events(played.stdout), emitted["telemetry_rows"])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint
