"""An approval binds the policy set it was decided under: after a policy change the executor refuses it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentcage.constants import POLICY_DIR_ENV
from agentcage.policy.version import current_policy_version
from agentcage.tools.catalog import data_directory
from functions.aws import tool_executor
from tests.functional.aws.executor.executor_support import ExecutorWorld, batch, body_of, record_for

RETURNS = "sqs_tool_requests_returns"


def _changed_policies(tmp_path: Path) -> Path:
    """A copy of the deployed policy set with one policy file edited (what a policy deploy does)."""
    folder = tmp_path / "policies"
    shutil.copytree(data_directory(None, POLICY_DIR_ENV, "policies"), folder)
    approvals = folder / "approvals.cedar"
    approvals.write_text(
        approvals.read_text(encoding="utf-8") + "\n// tightened after review\n", encoding="utf-8"
    )
    return folder


def test_an_approval_decided_under_the_running_policy_set_executes(world: ExecutorWorld) -> None:
    # GIVEN a refund approved under the policy set the executor runs
    record = world.prepare(record_for(RETURNS, "createRefund"))
    approval = world.ledger.get_approval(body_of(record)["approval_id"])
    assert approval.policy_version == current_policy_version()

    # WHEN it arrives
    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN it runs, once
    assert [d.result.status for d in world.results()] == ["ok"]
    assert world.transport.count("createRefund") == 1


def test_an_approval_decided_before_a_policy_change_is_refused(
    world: ExecutorWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a refund approved under today's policies
    record = world.prepare(record_for(RETURNS, "createRefund"))
    body = body_of(record)
    decided_under = world.ledger.get_approval(body["approval_id"]).policy_version

    # WHEN the policies change before the request is executed
    monkeypatch.setenv(POLICY_DIR_ENV, str(_changed_policies(tmp_path)))
    assert current_policy_version() != decided_under
    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN the call is denied with a reason that says so, nothing executes and the approval is unspent
    [delivered] = world.results()
    assert delivered.result.status == "denied"
    assert delivered.result.error is not None
    assert delivered.result.error.code == "approval_mismatch"
    assert "judged and approved again" in delivered.result.error.message
    [denied] = [e for e in world.ledger.audit(body["task_id"]) if e.kind == "tool_denied"]
    assert denied.data["details"]["reason"] == "policy_changed"
    assert denied.data["details"]["approval_policy_version"] == decided_under
    assert world.transport.calls == []
    assert world.ledger.get_approval(body["approval_id"]).used_at is None
