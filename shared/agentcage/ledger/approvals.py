"""Approval operations of the ledger: a human decision bound to one call's exact arguments, used once.

Each approval also carries the version of the policy set (``policy_version``) it was created and then
decided under: the caller's (the coordinator's) when it names one, else this process's
(:func:`agentcage.policy.version.current_policy_version`), as ``now`` is this ledger's clock unless
given. The verifier refuses an approval decided under another policy set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from agentcage.errors import ApprovalAlreadyDecidedError, ApprovalExpiredError
from agentcage.ledger import rules
from agentcage.ledger.hooks import LedgerHooks
from agentcage.ledger.models import ApprovalRecord, ApprovalStatus
from agentcage.ledger.validation import build

__all__ = ["ApprovalOperations"]


class ApprovalOperations(LedgerHooks):
    """Create, decide, use and list approvals (part of :class:`agentcage.ledger.base.Ledger`)."""

    def create_approval(
        self,
        task_id: str,
        *,
        step: int,
        agent_id: str,
        tool: str,
        args: Mapping[str, Any],
        args_digest: str,
        reasons: Iterable[str] = (),
        policies: Iterable[str] = (),
        ttl_seconds: float = 3600,
        policy_version: str | None = None,
    ) -> ApprovalRecord:
        """Create a pending approval bound to ``args_digest``, expiring after ``ttl_seconds``, stamped
        with the policy set's version that asked for it (``policy_version``, default: this process's)."""
        task_id = rules.validate_task_id(task_id)
        now = self.now()
        approval = build(
            ApprovalRecord,
            approval_id=rules.new_child_id(task_id, "a"),
            task_id=task_id,
            step=step,
            agent_id=agent_id,
            tool=tool,
            args=dict(args),
            args_digest=args_digest,
            reasons=list(reasons),
            policies=list(policies),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            policy_version=policy_version or _policy_version(),
        )
        self._insert_approval(approval)
        return approval

    def get_approval(self, approval_id: str) -> ApprovalRecord:
        """The approval (ApprovalNotFoundError if there is none)."""
        return self._load_approval(rules.task_of(approval_id, "a"), approval_id)

    def decide_approval(
        self,
        approval_id: str,
        approve: bool,
        *,
        approver: str,
        approver_roles: Iterable[str] = (),
        comment: str | None = None,
        now: datetime | None = None,
        policy_version: str | None = None,
    ) -> ApprovalRecord:
        """Approve or deny a pending approval, once; an expired one is marked expired and refused.

        The decision is stamped with the policy set's version it was taken under (``policy_version``,
        default: this process's), the one the approval is then usable under.
        """
        at = now or self.now()
        task_id = rules.task_of(approval_id, "a")
        roles = list(approver_roles)
        version = policy_version or _policy_version()

        def apply(approval: ApprovalRecord) -> ApprovalRecord:
            rules.check_approval_decidable(approval, at)
            status = ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED
            return approval.model_copy(
                update={
                    "status": status,
                    "approver": approver,
                    "approver_roles": roles,
                    "comment": comment,
                    "decided_at": at,
                    "policy_version": version,
                }
            )

        try:
            return self._update_approval(task_id, approval_id, apply)
        except ApprovalExpiredError:
            self._mark_approval_expired(task_id, approval_id, at)
            raise

    def use_approval(self, approval_id: str, args_digest: str, now: datetime | None = None) -> ApprovalRecord:
        """Spend an approved approval on the call it was granted for; a second use is a ReplayError."""
        at = now or self.now()

        def apply(approval: ApprovalRecord) -> ApprovalRecord:
            rules.check_approval_usable(approval, args_digest, at)
            return approval.model_copy(update={"used_at": at})

        return self._update_approval(rules.task_of(approval_id, "a"), approval_id, apply)

    def expire_approval(self, approval_id: str, now: datetime | None = None) -> bool:
        """Mark a pending approval that is past its expiry ``expired`` (nobody decided in time).

        True when this call marked it; False when it is not due yet or was decided (or expired) already.
        For the expiry sweep (``Coordinator.expire_overdue_approvals``), which no decision triggers.
        """
        at = now or self.now()

        def expire(approval: ApprovalRecord) -> ApprovalRecord:
            if approval.status is not ApprovalStatus.PENDING or at < approval.expires_at:
                raise _NotExpirable
            return approval.model_copy(update={"status": ApprovalStatus.EXPIRED, "decided_at": at})

        try:
            self._update_approval(rules.task_of(approval_id, "a"), approval_id, expire)
        except _NotExpirable:
            return False
        return True

    def pending_approvals(self, task_id: str) -> list[ApprovalRecord]:
        """The task's approvals still waiting for a decision, oldest first."""
        approvals = self._list_approvals(rules.validate_task_id(task_id))
        return [a for a in approvals if a.status is ApprovalStatus.PENDING]

    def task_approvals(self, task_id: str) -> list[ApprovalRecord]:
        """Every approval of the task, whatever its status (who may read the task asks who decided)."""
        return list(self._list_approvals(rules.validate_task_id(task_id)))

    def _mark_approval_expired(self, task_id: str, approval_id: str, at: datetime) -> None:
        def expire(approval: ApprovalRecord) -> ApprovalRecord:
            if approval.status is not ApprovalStatus.PENDING:
                raise ApprovalAlreadyDecidedError(
                    f"approval {approval_id} was already {approval.status.value}"
                )
            return approval.model_copy(update={"status": ApprovalStatus.EXPIRED, "decided_at": at})

        with contextlib.suppress(ApprovalAlreadyDecidedError):  # decided meanwhile: the first write stands
            self._update_approval(task_id, approval_id, expire)


def _policy_version() -> str:
    # Imported on use: the policy package loads Cedar, which only the deciding side (the coordinator)
    # ships; a ledger opened by a data service never creates or decides an approval.
    from agentcage.policy.version import current_policy_version

    return current_policy_version()


class _NotExpirable(Exception):  # noqa: N818 - control flow inside expire_approval, never escapes it
    """The approval is not pending, or not due yet."""
