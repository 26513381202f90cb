"""Run the Pulumi program once per stack under mocks (in parallel subprocesses) and share the result.

Each stack's run records every registered resource: type, name, parent, inputs (engine names) and the
mocked outputs. The tests then assert rules over all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_harness import (
    DEPENDENCY_TARGETS,
    REPO_ROOT,
    RUNNER,
    STACK_OVERRIDES,
    STACK_SECRETS,
    STACKS,
    Resource,
    StackRun,
)


def _prebuilt_dependencies(root: Path) -> Path:
    # A pre-built dependency folder per package (what CI hands over through the env var), with one
    # stand-in module each, so the tests can see dependencies land at the right place in an archive.
    for target in DEPENDENCY_TARGETS:
        package = root / target / "dependency_stand_in"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f'TARGET = "{target}"\n', encoding="utf-8")
    return root


def _committed(stack: str) -> dict[str, Any]:
    return dict(yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"])


@pytest.fixture(scope="session")
def program_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StackRun]:
    """Both stacks, run once per session, in parallel."""
    work = tmp_path_factory.mktemp("infra")
    environ = {**os.environ, "AGENTCAGE_INFRA_DEPENDENCIES_DIR": str(_prebuilt_dependencies(work / "deps"))}
    processes = {}
    for stack in STACKS:
        tenant = _committed(stack)["agentcage:entraTenantId"]
        settings = [f"secret:{key}={value}" for key, value in STACK_SECRETS[stack].items()]
        settings += [
            f"plain:{key}={value.format(tenant=tenant)}" for key, value in STACK_OVERRIDES[stack].items()
        ]
        processes[stack] = subprocess.Popen(
            [sys.executable, str(RUNNER), stack, str(work / f"{stack}.json"), *settings],
            cwd=REPO_ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    runs = {}
    for stack, process in processes.items():
        output, _ = process.communicate(timeout=180)
        assert process.returncode == 0, f"program run for {stack} failed:\n{output[-6000:]}"
        recorded = json.loads((work / f"{stack}.json").read_text(encoding="utf-8"))
        config = {**_committed(stack), **STACK_OVERRIDES[stack]}
        runs[stack] = StackRun(
            stack, config, [Resource(**r) for r in recorded["resources"]], recorded["calls"]
        )
    return runs


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest, program_runs: dict[str, StackRun]) -> StackRun:
    """Each stack in turn."""
    return program_runs[request.param]
