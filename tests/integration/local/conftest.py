"""The local runtime end to end: a host serving on a free port (in a thread, or a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcage.local import LocalConfig, LocalHost, running_host
from agentcage.local.client import AgentcageClient
from tests.integration.local.dynamodb_proxy import HoldingProxy, holding_proxy

PROJECT_ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """A local host in this process on a free port, with its own state directory, for one module."""
    state = tmp_path_factory.mktemp("agentcage-state")
    with running_host(LocalConfig(state_dir=state, port=0, retry_delay_s=0.05)) as started:
        yield started


@pytest.fixture(scope="module")
def client(host: LocalHost) -> AgentcageClient:
    return AgentcageClient(host.url)


class DevProcess:
    """``agentcage dev`` in a subprocess: start, read where it listens, kill."""

    def __init__(self, state_dir: Path, env: dict[str, str], extra: list[str]) -> None:
        command = [
            sys.executable,
            "-c",
            "import sys; from agentcage.cli import main; sys.exit(main())",
            "dev",
            "--port",
            "0",
            "--json",
            "--state-dir",
            str(state_dir),
            "--retry-delay",
            "0.05",
            *extra,
        ]
        # stderr goes to a file, not a pipe nobody reads: a start-up failure then says why.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=self.stderr, text=True
        )
        assert self.process.stdout is not None
        try:
            self.info: dict[str, Any] = self._started(self.process.stdout)
        except BaseException:
            self.stop()
            raise
        self.url: str = self.info["url"]
        # The Lambdas' Powertools loggers write to stdout too: keep the pipe drained, or a full pipe
        # buffer would block the server mid-test.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def _started(self, stdout: Any) -> dict[str, Any]:
        """The ``--json`` start-up line (with the URL), skipping any log lines printed before it."""
        for _ in range(500):
            line = stdout.readline()
            if not line:
                code = self.process.wait(60)
                raise RuntimeError(f"agentcage dev exited with {code}:\n{self.stderr_tail()}")
            try:
                info = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(info, dict) and "url" in info:
                return info
        raise RuntimeError("agentcage dev printed no start-up line with its URL")

    def stderr_tail(self, size: int = 4000) -> str:
        """The last ``size`` characters the process wrote to stderr."""
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-size:]

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, locks and in-flight messages left behind."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.stderr.close()


def dev_environment(**extra: str) -> dict[str, str]:
    """The environment for a dev subprocess: this one's, with placeholder AWS credentials for moto."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCAGE_")}
    env.update(
        {"AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def dynamodb_endpoint() -> Iterator[str]:
    """A moto_server for the data services' tables, which outlive a dev process as DynamoDB outlives a
    Lambda (a module may override it)."""
    from agentcage.ledger.testing import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def proxy(dynamodb_endpoint: str) -> Iterator[HoldingProxy]:
    """A DynamoDB proxy in front of ``dynamodb_endpoint`` that can hold a refund's write (kill -9 tests)."""
    with holding_proxy(dynamodb_endpoint) as server:
        yield server
