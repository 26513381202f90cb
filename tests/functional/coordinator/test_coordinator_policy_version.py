"""Approvals bind the version of the policies the coordinator's own gate decided with (issue 12).

The executor checks an approval against its gate's version; the coordinator must stamp the same kind of
version, from the gate that asked for the approval, not from whatever the default policy folder holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from agentcage.coordinator import Coordinator
from agentcage.gate import GovernanceGate
from agentcage.ledger import MemoryLedger
from agentcage.policy.version import current_policy_version
from tests.functional.coordinator.coordinator_support import (
    FINANCE,
    Driver,
    FakeClock,
    FakeExecutor,
    budget_config,
    make_coordinator,
)

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"
POLICIES = Path(__file__).resolve().parents[3] / "shared" / "policies"


def _gate_over_edited_policies(tmp_path: Path) -> GovernanceGate:
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    edited = folder / "approvals.cedar"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n// edited after the deploy\n", encoding="utf-8")
    return GovernanceGate.from_directory(policy_dir=folder)


def test_an_approval_is_created_and_decided_under_the_coordinators_own_gate_version(tmp_path: Path) -> None:
    # GIVEN a coordinator whose gate decides with policies other than the default folder's
    ledger = MemoryLedger(breaker=budget_config().breaker, clock=FakeClock())
    made = make_coordinator(ledger)
    gate = _gate_over_edited_policies(tmp_path)
    coordinator = Coordinator(
        ledger=ledger, gate=gate, model=made.model, settings=made.settings, notifier=made.notifier
    )
    assert gate.policy.version != current_policy_version()

    # WHEN a refund asks for an approval and a person approves it
    task_id = Driver(coordinator, FakeExecutor(ledger)).start(REFUND)
    (pending,) = ledger.pending_approvals(task_id)
    coordinator.decide_approval(pending.approval_id, approve=True, principal=FINANCE)

    # THEN the approval was created and decided under that gate's version
    assert pending.policy_version == gate.policy.version
    assert ledger.get_approval(pending.approval_id).policy_version == gate.policy.version
