"""The checks an approval must pass before the call it approves may execute.

Run by the coordinator before it sends an approved call and again by the AWS executor on receipt
(defense in depth). Single use is the ledger's job (``use_approval`` is a conditional write); this
module checks everything that can be decided from the record itself.
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

__all__ = ["ApprovalLike", "check_approval"]


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


def check_approval(
    approval: ApprovalLike,
    *,
    task_id: str,
    agent_id: str,
    tool: str,
    args_digest: str,
    now: datetime,
    excluded_approvers: Collection[str] = (),
) -> None:
    """Raise the specific :class:`ApprovalInvalidError` subclass unless ``approval`` authorises this call.

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
    refused = {agent_id, approval.agent_id, *(a for a in excluded_approvers if a)}
    if not approval.approver or approval.approver in refused:
        raise SelfApprovalError(
            f"approval {approval.approval_id} was not decided by a person other than the agent"
        )
