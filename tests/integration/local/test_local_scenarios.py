"""The three demo scenarios end to end over HTTP, each with its real checks."""

from __future__ import annotations

import pytest

from agentcage.local import LocalHost
from agentcage.local.demo import SCENARIOS, DemoRunner


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_comes_out_as_expected(host: LocalHost, name: str) -> None:
    # GIVEN the local runtime serving over HTTP
    runner = DemoRunner(host, timeout_s=20)
    # WHEN the scenario is played through the API
    [result] = runner.run([name])
    # THEN every check over the API, the ledger and the domain table holds
    failed = [f"{c.description}: {c.detail}" for c in result.checks if not c.passed]
    assert result.passed, failed
