"""The checks an approval must pass before the call it approves may execute.

Run by the coordinator before it sends an approved call and again by the AWS executor on receipt
(defense in depth). Single use is the ledger's job (``use_approval`` is a conditional write); this
module checks everything that can be decided from the record itself.

That includes the policy set: an approval is usable only under the policy set's version it was
decided under (``policy_version``, :mod:`agentcage.policy.version`). A person approved a call the
policies of that time asked about; after a policy change the call must be judged, and if need be
approved, again. An approval that records no version (made before versions were recorded) is
refused too: which policies it was decided under cannot be shown.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from agentcage.errors import (
    ApprovalExpiredError,
    ApprovalInvalidError,
    ApprovalMismatchError,
    SelfApprovalError,
)
from agentcage.policy.version import current_policy_version

__all__ = ["ApprovalLike", "check_approval", "check_policy_version"]


class ApprovalLike(Protocol):
    """The fields of an approval record the checks read."""

    @property
    def approval_id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def tool(self) -> str: ...
    @property
    def args_digest(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def approver(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def used_at(self) -> datetime | None: ...
    @property
    def policy_version(self) -> str | None: ...


def check_approval(
    approval: ApprovalLike,
    *,
    task_id: str,
    agent_id: str,
    tool: str,
    args_digest: str,
    now: datetime,
    excluded_approvers: Collection[str] = (),
    policy_version: str | None = None,
) -> None:
    """Raise the specific :class:`ApprovalInvalidError` subclass unless ``approval`` authorises this call.

    ``policy_version`` is the version of the policy set the call is judged under (default: this
    process's, :func:`~agentcage.policy.version.current_policy_version`); an approval decided under
    another is an :class:`ApprovalMismatchError` with ``details["reason"] == "policy_changed"``
    (``"policy_unknown"`` when the approval records none).

    The approver may be neither the agent (by its name) nor any of ``excluded_approvers``: the object
    ids of the identities the agent's side runs as (the coordinator's managed identity), since in the
    cloud an approver is an Entra object id and never equals an agent's name.
    """
    if str(approval.status) != "approved":
        raise ApprovalInvalidError(f"approval {approval.approval_id} is {approval.status}, not approved")
    if now >= approval.expires_at:
        raise ApprovalExpiredError(
            f"approval {approval.approval_id} expired at {approval.expires_at.isoformat()}"
        )
    if approval.used_at is not None:
        raise ApprovalInvalidError(f"approval {approval.approval_id} was already used")
    if approval.task_id != task_id or approval.tool != tool:
        raise ApprovalMismatchError(f"approval {approval.approval_id} was granted for another task or tool")
    if approval.args_digest != args_digest:
        raise ApprovalMismatchError(f"approval {approval.approval_id} was granted for other arguments")
    check_policy_version(approval, policy_version or current_policy_version())
    refused = {agent_id, approval.agent_id, *(a for a in excluded_approvers if a)}
    if not approval.approver or approval.approver in refused:
        raise SelfApprovalError(
            f"approval {approval.approval_id} was not decided by a person other than the agent"
        )


def check_policy_version(approval: ApprovalLike, policy_version: str) -> None:
    """Refuse ``approval`` unless it was decided under the policy set ``policy_version``."""
    decided_under = approval.policy_version
    if decided_under == policy_version:
        return
    reason = "policy_unknown" if decided_under is None else "policy_changed"
    said = (
        "records no policy version"
        if decided_under is None
        else f"was decided under policy set {decided_under[:12]}"
    )
    raise ApprovalMismatchError(
        f"approval {approval.approval_id} {said}; the policies are now {policy_version[:12]}: "
        "the call must be judged and approved again",
        details={
            "approval_id": approval.approval_id,
            "reason": reason,
            "approval_policy_version": decided_under,
            "policy_version": policy_version,
        },
    )
