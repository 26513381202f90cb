"""An approval authorises exactly one call: approved, unexpired, unused, same arguments, not self-approved."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from agentcage.approvals import check_approval
from agentcage.errors import (
    ApprovalExpiredError,
    ApprovalInvalidError,
    ApprovalMismatchError,
    SelfApprovalError,
)
from agentcage.policy.version import current_policy_version

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
POLICY = "c" * 64


@dataclass(frozen=True)
class Approval:
    approval_id: str = "appr-1"
    task_id: str = "task-1"
    agent_id: str = "returns-coordinator"
    tool: str = "createRefund"
    args_digest: str = "a" * 64
    status: str = "approved"
    approver: str | None = "rita"
    expires_at: datetime = NOW + timedelta(minutes=10)
    used_at: datetime | None = None
    policy_version: str | None = POLICY


def _check(approval: Approval, **overrides: str) -> None:
    call = {
        "task_id": "task-1",
        "agent_id": "returns-coordinator",
        "tool": "createRefund",
        "args_digest": "a" * 64,
        "policy_version": POLICY,
    }
    call.update(overrides)
    check_approval(approval, now=NOW, **call)


def test_a_valid_approval_passes() -> None:
    _check(Approval())


@pytest.mark.parametrize(
    ("approval", "overrides", "error"),
    [
        (replace(Approval(), status="pending"), {}, ApprovalInvalidError),
        (replace(Approval(), status="denied"), {}, ApprovalInvalidError),
        (replace(Approval(), expires_at=NOW), {}, ApprovalExpiredError),
        (replace(Approval(), used_at=NOW), {}, ApprovalInvalidError),
        (Approval(), {"args_digest": "b" * 64}, ApprovalMismatchError),
        (Approval(), {"tool": "deleteVolume"}, ApprovalMismatchError),
        (Approval(), {"task_id": "task-2"}, ApprovalMismatchError),
        (replace(Approval(), approver="returns-coordinator"), {}, SelfApprovalError),
        (replace(Approval(), approver=None), {}, SelfApprovalError),
        (Approval(), {"policy_version": "d" * 64}, ApprovalMismatchError),
        (replace(Approval(), policy_version=None), {}, ApprovalMismatchError),
    ],
)
def test_each_way_an_approval_can_fail_has_its_own_error(
    approval: Approval, overrides: dict[str, str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        _check(approval, **overrides)


def test_the_coordinators_own_identity_is_not_an_approver() -> None:
    # In the cloud an approver is an Entra object id, never an agent's name: the identity the agent
    # side runs as is what must be refused.
    coordinator_oid = "9d2f0c1e-0000-4000-8000-00000000c00d"
    approval = replace(Approval(), approver=coordinator_oid)

    with pytest.raises(SelfApprovalError):
        check_approval(
            approval,
            task_id="task-1",
            agent_id="returns-coordinator",
            tool="createRefund",
            args_digest="a" * 64,
            now=NOW,
            excluded_approvers=(coordinator_oid,),
            policy_version=POLICY,
        )
    # an empty configured id excludes nobody
    check_approval(
        Approval(),
        task_id="task-1",
        agent_id="returns-coordinator",
        tool="createRefund",
        args_digest="a" * 64,
        now=NOW,
        excluded_approvers=("",),
        policy_version=POLICY,
    )


def test_an_approval_decided_under_the_same_policy_set_is_accepted() -> None:
    _check(Approval(), policy_version=POLICY)


def test_an_approval_decided_under_other_policies_is_refused_with_a_structured_reason() -> None:
    # GIVEN an approval decided under one policy set, and the policies changed since
    approval = Approval(policy_version=POLICY)

    # WHEN the call is checked under the new set
    with pytest.raises(ApprovalMismatchError) as caught:
        _check(approval, policy_version="d" * 64)

    # THEN the refusal says why, with both versions
    assert caught.value.details == {
        "approval_id": "appr-1",
        "reason": "policy_changed",
        "approval_policy_version": POLICY,
        "policy_version": "d" * 64,
    }
    assert "judged and approved again" in caught.value.message


def test_an_approval_recording_no_policy_version_is_refused() -> None:
    with pytest.raises(ApprovalMismatchError) as caught:
        _check(replace(Approval(), policy_version=None))

    assert caught.value.details["reason"] == "policy_unknown"


def test_by_default_the_call_is_judged_under_this_process_policy_set() -> None:
    current = current_policy_version()
    call = {
        "task_id": "task-1",
        "agent_id": "returns-coordinator",
        "tool": "createRefund",
        "args_digest": "a" * 64,
    }

    check_approval(Approval(policy_version=current), now=NOW, **call)
    with pytest.raises(ApprovalMismatchError):
        check_approval(Approval(policy_version=POLICY), now=NOW, **call)
