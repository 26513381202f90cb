"""An approval binds the policy set it was decided under: after a policy change the executor refuses it."""

from __future__ import annotations

import shutil
from pathlib import Path

from aws_lambda_powertools import Logger

from agentcage.constants import POLICY_DIR_ENV
from agentcage.gate import GovernanceGate
from agentcage.policy.version import current_policy_version
from agentcage.tools.catalog import data_directory
from functions.aws import tool_executor
from functions.aws.executor import build_executor
from tests.functional.aws.executor.executor_support import (
    ExecutorWorld,
    batch,
    body_of,
    record_for,
    with_body,
)

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


def _executor_running(world: ExecutorWorld, policies: Path) -> None:
    """The world's executor, rebuilt on a gate that decides with the policy set in ``policies``."""
    world.executor = build_executor(
        gate=GovernanceGate.from_directory(policy_dir=policies),
        ledger=world.ledger,
        transport=world.transport,
        publisher=world.executor.publisher,
        logger=Logger(service="tool_executor_test"),
    )


def test_an_approval_decided_before_a_policy_change_is_refused(world: ExecutorWorld, tmp_path: Path) -> None:
    # GIVEN a refund approved under today's policies
    record = world.prepare(record_for(RETURNS, "createRefund"))
    body = body_of(record)
    decided_under = world.ledger.get_approval(body["approval_id"]).policy_version

    # WHEN the executor runs changed policies before the request is executed (a policy deploy), while
    # the default folder and AGENTCAGE_POLICY_DIR still hold the old ones
    _executor_running(world, _changed_policies(tmp_path))
    assert current_policy_version() == decided_under
    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    # THEN the version checked is the one its gate decides with: the call is denied, saying so, nothing
    # executes and the approval is unspent
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


def test_an_approval_decided_under_the_gates_policies_executes_wherever_the_folder_points(
    world: ExecutorWorld, tmp_path: Path
) -> None:
    # GIVEN an executor whose gate loaded another folder than the default, and a refund approved
    # under exactly that set
    changed = _changed_policies(tmp_path)
    _executor_running(world, changed)
    record = world.prepare(record_for(RETURNS, "createRefund"), approve=False)
    body = body_of(record)
    approval = world.ledger.create_approval(
        body["task_id"],
        step=body["step"],
        agent_id=body["agent_id"],
        tool=body["tool"],
        args=body["args"],
        args_digest=body["args_digest"],
        policy_version=current_policy_version(changed),
    )
    world.ledger.decide_approval(
        approval.approval_id,
        True,
        approver="rita-oid",
        approver_roles=["finance"],
        policy_version=current_policy_version(changed),
    )
    record = with_body(record, body | {"approval_id": approval.approval_id})

    # WHEN it arrives, THEN it runs: the gate's version, not the default folder's, is the one checked
    tool_executor.process_batch(batch(record), tool_executor=world.executor)
    assert [d.result.status for d in world.results()] == ["ok"]
    assert world.transport.count("createRefund") == 1
