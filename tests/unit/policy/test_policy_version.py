"""The policy set's version: one digest of the policy files and the schema, recorded on approvals."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import rfc8785

from agentcage.budget import BudgetLimits
from agentcage.constants import POLICY_DIR_ENV
from agentcage.errors import PolicyLoadError
from agentcage.ledger import MemoryLedger
from agentcage.ledger.models import ApprovalStatus
from agentcage.policy.engine import PolicyEngine
from agentcage.policy.version import current_policy_version, policy_set_version, read_policy_set
from agentcage.tools.catalog import data_directory


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(data_directory(None, POLICY_DIR_ENV, "policies"), folder)
    return folder


def test_the_version_is_sha256_of_the_canonical_policy_document() -> None:
    document = {"policies": {"b.cedar": "forbid(...);", "a.cedar": "permit(...);"}, "schema": "entity Agent;"}

    assert (
        policy_set_version(document["policies"], "entity Agent;")
        == hashlib.sha256(rfc8785.dumps(document)).hexdigest()
    )


def test_a_copy_of_the_same_files_elsewhere_has_the_same_version(policies: Path) -> None:
    assert current_policy_version(policies) == current_policy_version()


@pytest.mark.parametrize(
    "change",
    [
        lambda folder: (folder / "destructive.cedar").write_text(
            (folder / "destructive.cedar").read_text() + "\n// edited\n"
        ),
        lambda folder: (folder / "schema.cedarschema").write_text(
            (folder / "schema.cedarschema").read_text() + "\n"
        ),
        lambda folder: (folder / "destructive.cedar").rename(folder / "zz-destructive.cedar"),
        lambda folder: (folder / "extra.cedar").write_text("// another file\n"),
    ],
    ids=["policy edited", "schema edited", "file renamed", "file added"],
)
def test_any_change_to_a_policy_file_or_the_schema_changes_the_version(policies: Path, change) -> None:  # type: ignore[no-untyped-def]
    before = current_policy_version(policies)
    changed = policies.parent / "changed"
    shutil.copytree(policies, changed)
    change(changed)

    assert current_policy_version(changed) != before


def test_a_folder_without_policies_has_no_version(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError):
        current_policy_version(tmp_path)


def test_the_version_follows_the_policy_folder_setting(
    policies: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (policies / "data.cedar").write_text((policies / "data.cedar").read_text() + "\n// edited\n")
    monkeypatch.setenv(POLICY_DIR_ENV, str(policies))

    assert current_policy_version() == current_policy_version(policies)
    assert current_policy_version() != current_policy_version(
        data_directory(None, "UNSET_FOR_TEST", "policies")
    )


def _approval_ledger() -> tuple[MemoryLedger, str]:
    from datetime import UTC, datetime, timedelta

    ledger = MemoryLedger()
    task = ledger.create_task(
        task_id="task-version-0001",
        agent_id="returns-coordinator",
        environment="dev",
        request="policy version test",
        limits=BudgetLimits(
            tokens=1000,
            cost_micro_usd=1000,
            model_steps=5,
            tool_calls=5,
            deadline=datetime.now(UTC) + timedelta(hours=1),
        ),
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    return ledger, task.task_id


def test_an_approval_is_stamped_when_created_and_again_when_decided() -> None:
    # GIVEN an approval created under this process's policy set
    ledger, task_id = _approval_ledger()
    created = ledger.create_approval(
        task_id,
        step=1,
        agent_id="returns-coordinator",
        tool="createRefund",
        args={"a": 1},
        args_digest="a" * 64,
    )
    assert created.policy_version == current_policy_version()

    # WHEN it is decided under another set (a coordinator that was deployed meanwhile)
    decided = ledger.decide_approval(created.approval_id, True, approver="rita", policy_version="e" * 64)

    # THEN the decision's set is the one it records, and it survives a read
    assert decided.status is ApprovalStatus.APPROVED
    assert ledger.get_approval(created.approval_id).policy_version == "e" * 64


def test_the_engine_versions_exactly_the_texts_it_loaded(tmp_path: Path) -> None:
    # GIVEN a policy folder the engine loads
    folder = tmp_path / "policies"
    shutil.copytree(data_directory(None, POLICY_DIR_ENV, "policies"), folder)
    engine = PolicyEngine.from_directory(folder)
    # THEN its version is the folder's, computed from the texts it holds
    assert engine.version == current_policy_version(folder)
    assert engine.version == policy_set_version(engine.policy_texts, engine.schema_text)
    assert sorted(engine.policy_texts) == sorted(f.name for f in folder.glob("*.cedar"))
    # AND a file changed after loading changes neither what it decides with nor its version
    first = next(iter(engine.policy_texts))
    (folder / first).write_text(engine.policy_texts[first] + "\n// edited later\n", encoding="utf-8")
    assert engine.version == policy_set_version(engine.policy_texts, engine.schema_text)
    assert engine.version != policy_set_version(*read_policy_set(folder))
