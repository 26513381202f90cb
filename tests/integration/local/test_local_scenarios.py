"""The three demo scenarios end to end over HTTP, each with its real checks, and those checks failing
when the behaviour they name is broken."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentcage.constants import POLICY_DIR_ENV
from agentcage.local import LocalHost
from agentcage.local.config import DOMAIN_TABLE
from agentcage.local.demo import PRODUCTION_FORBID, SCENARIOS, DemoRunner
from agentcage.local.demo_state import ScenarioResult
from functions.aws.services.seed import load_seed_data
from tests.integration.local.conftest import PROJECT_ROOT, dev_environment

BOUND_CHECK = "the approval is bound to its arguments"
SETTLED_WITHIN_S = 120.0  # each wait of a scenario, on a loaded 2-core machine: a bound, not a measurement


@pytest.fixture(autouse=True)
def fresh_seed(host: LocalHost) -> None:
    # Each test starts from the seed (an order refunded by an earlier test could not be refunded again).
    load_seed_data(host.aws.client(), DOMAIN_TABLE, overwrite=True)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_comes_out_as_expected(host: LocalHost, name: str) -> None:
    # GIVEN the local runtime serving over HTTP
    runner = DemoRunner(host, timeout_s=SETTLED_WITHIN_S)
    # WHEN the scenario is played through the API
    [result] = runner.run([name])
    # THEN every check over the API, the ledger and the domain table holds
    failed = [f"{c.description}: {c.detail}" for c in result.checks if not c.passed]
    assert result.passed, failed


def test_the_binding_check_fails_for_an_approval_of_other_arguments(host: LocalHost) -> None:
    # GIVEN a played return exception, its approval as the API shows it
    runner = DemoRunner(host, timeout_s=SETTLED_WITHIN_S)
    [played] = runner.run(["return_exception"])
    assert played.passed, [c for c in played.checks if not c.passed]
    [decided] = [e.data for e in host.ledger().audit(played.task_id) if e.kind == "approval_decided"]
    approval = runner.client.get_approval(str(decided["approval_id"]))

    def bound(candidate: dict[str, object]) -> bool:
        probe = ScenarioResult("probe", "", task_id=played.task_id)
        runner._check_refund_bound(probe, candidate)
        [check] = probe.checks
        assert check.description.startswith(BOUND_CHECK)
        return check.passed

    # WHEN the check is run against that approval, and against approvals that differ from what ran
    arguments = dict(approval["arguments"])
    other_amount = {**approval, "arguments": {**arguments, "amount_cents": arguments["amount_cents"] + 1}}
    other_digest = {**approval, "args_digest": "0" * 64}
    other_approval = {**approval, "approval_id": f"{approval['approval_id']}x"}
    # THEN it holds only for the approval the refund really executed under, with its arguments
    assert bound(approval)
    assert not bound(other_amount)
    assert not bound(other_digest)
    assert not bound(other_approval)


@pytest.fixture
def policies_without_production_forbid(tmp_path: Path) -> Path:
    """A copy of the Cedar policies with the production-like-target forbid removed."""
    folder = tmp_path / "policies"
    folder.mkdir()
    for source in (PROJECT_ROOT / "shared" / "policies").iterdir():
        text = source.read_text(encoding="utf-8")
        if source.name == "destructive.cedar":
            start = text.index(f'@id("{PRODUCTION_FORBID}")')
            end = text.index("@id(", start + 1)
            text = text[:start] + text[end:]
            assert PRODUCTION_FORBID not in text
        (folder / source.name).write_text(text, encoding="utf-8")
    return folder


def test_the_janitor_demo_fails_when_the_production_forbid_is_removed(
    policies_without_production_forbid: Path,
) -> None:
    # GIVEN the policies without the forbid on production-like targets
    env = dev_environment(**{POLICY_DIR_ENV: str(policies_without_production_forbid)})
    # WHEN the janitor demo is played by the CLI (its own host, in-process moto, a temporary state)
    command = [sys.executable, "-c", "import sys; from agentcage.cli import main; sys.exit(main())"]
    played = subprocess.run(
        [*command, "demo", "--scenario", "janitor", "--json", "--retry-delay", "0.05"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # THEN the demo fails, on exactly the check that the production-candidate delete was forbidden
    [scenario] = json.loads(played.stdout)["scenarios"]
    failed = [c["check"] for c in scenario["checks"] if not c["passed"]]
    assert played.returncode != 0
    assert len(failed) == 1, failed
    assert PRODUCTION_FORBID in failed[0]
