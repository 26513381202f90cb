"""Need-to-know: who may read a task and its approvals, and whose tasks a caller may list.

A task answers only to

- its requester (the principal that created it, recorded in the ledger's task record);
- an approver of it: a person holding one of the configured approver roles while the task has a
  pending approval, and anyone who decided one of its approvals (they keep seeing what they decided);
- an auditor (the configured auditor role), who may read every task but decides nothing by it.

Everyone else is told the task does not exist (:class:`TaskNotFoundError`, 404, the same answer as for
an id nobody ever used), so an id seen in a log or a notice reveals nothing. Deciding an approval
needs more than reading it: the requester or an approver role (:meth:`TaskAccess.check_may_decide`);
the policy then says whether that person's approval lifts the call.

Listing pages newest first with an opaque cursor (:meth:`TaskAccess.cursor`); the ledger's task listing
is a scan, which is what ``agentcage tasks list`` already uses (a requester index is the way to scale
it, see the module's report).
"""

from __future__ import annotations

import base64
import binascii
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from agentcage.approvals.principal import Principal
from agentcage.constants import APPROVER_ROLES_ENV, AUDITOR_ROLES_ENV
from agentcage.errors import GovernanceError, InvalidInputError, TaskNotFoundError
from agentcage.ledger.base import Ledger
from agentcage.ledger.models import ApprovalRecord, ApprovalStatus, Requester, TaskRecord

__all__ = [
    "DEFAULT_APPROVER_ROLES",
    "DEFAULT_AUDITOR_ROLES",
    "MAX_PAGE",
    "AccessRules",
    "TaskAccess",
    "requester_of",
]

DEFAULT_APPROVER_ROLES = ("approver", "finance", "support_lead")
"""The roles whose holders may see and decide the tasks waiting for an approval (unless configured)."""
DEFAULT_AUDITOR_ROLES = ("auditor",)
"""The roles whose holders may read every task (unless configured)."""
MAX_PAGE = 200
"""The most tasks one page lists."""


def _roles(value: str | None, default: Collection[str]) -> frozenset[str]:
    if value is None or not value.strip():
        return frozenset(default)
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class AccessRules:
    """Which roles approve and which audit (configuration: ``AGENTCAGE_APPROVER_ROLES``,
    ``AGENTCAGE_AUDITOR_ROLES``, comma-separated; an explicit argument first, as everywhere)."""

    approver_roles: frozenset[str] = field(default_factory=lambda: frozenset(DEFAULT_APPROVER_ROLES))
    auditor_roles: frozenset[str] = field(default_factory=lambda: frozenset(DEFAULT_AUDITOR_ROLES))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AccessRules:
        """The rules from the environment, else the defaults."""
        env = os.environ if environ is None else environ
        return cls(
            approver_roles=_roles(env.get(APPROVER_ROLES_ENV), DEFAULT_APPROVER_ROLES),
            auditor_roles=_roles(env.get(AUDITOR_ROLES_ENV), DEFAULT_AUDITOR_ROLES),
        )

    def is_auditor(self, principal: Principal) -> bool:
        """Whether ``principal`` may read every task."""
        return not self.auditor_roles.isdisjoint(principal.roles)

    def is_approver(self, principal: Principal) -> bool:
        """Whether ``principal`` holds an approver role."""
        return not self.approver_roles.isdisjoint(principal.roles)


def requester_of(principal: Principal) -> Requester:
    """The ledger's record of the principal a task is created for."""
    return Requester(kind=principal.kind, id=principal.id, name=principal.name[:256], roles=principal.roles)


def _is_requester(task: TaskRecord, principal: Principal) -> bool:
    requester = task.requester
    return requester is not None and requester.id == principal.id


class TaskAccess:
    """Answers "may this principal read this task?" from the ledger (the only authority on requesters)."""

    def __init__(self, ledger: Ledger, rules: AccessRules | None = None) -> None:
        self.ledger = ledger
        self.rules = rules or AccessRules()

    # --- reading one task -------------------------------------------------------------------------
    def readable_task(self, task_id: str, principal: Principal) -> TaskRecord:
        """The task, if ``principal`` may read it; otherwise :class:`TaskNotFoundError` (404) exactly as
        for a task that does not exist."""
        task = self.ledger.get_task(task_id)  # TaskNotFoundError for an unknown id: the same answer
        if self.may_read(task, principal):
            return task
        raise TaskNotFoundError(f"no task {task_id!r}", details={"task_id": task_id})

    def may_read(
        self, task: TaskRecord, principal: Principal, approvals: Sequence[ApprovalRecord] | None = None
    ) -> bool:
        """The rule of the module docstring for one task (``approvals``: the task's, when the caller
        has read them already; else they are read here when the rule needs them)."""
        if self.rules.is_auditor(principal) or _is_requester(task, principal):
            return True
        if approvals is None:
            approvals = self.ledger.task_approvals(task.task_id)
        if any(a.approver == principal.id for a in approvals if a.status is not ApprovalStatus.PENDING):
            return True
        return self.rules.is_approver(principal) and any(
            a.status is ApprovalStatus.PENDING for a in approvals
        )

    def check_may_decide(self, task: TaskRecord, principal: Principal) -> None:
        """Refuse (403) a reader who may not decide: only the requester and approver roles decide."""
        if _is_requester(task, principal) or self.rules.is_approver(principal):
            return
        roles = ", ".join(sorted(self.rules.approver_roles))
        raise GovernanceError(
            f"{principal.name} may read this task but not decide its approvals: deciding needs one of "
            f"the roles {roles}",
            details={"approver_roles": sorted(self.rules.approver_roles)},
        )

    # --- listing ----------------------------------------------------------------------------------
    def tasks_for(self, principal: Principal, *, limit: int, after: str | None) -> list[TaskRecord]:
        """The tasks ``principal`` may list, newest first: its own, or every task for an auditor.

        ``after`` is the :meth:`cursor` of the last task of the previous page (``None``: the first
        page); a cursor that is not one is :class:`InvalidInputError` (400).
        """
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}", details={"limit": limit})
        start = _decode_cursor(after) if after else None
        everything = self.rules.is_auditor(principal)
        page: list[TaskRecord] = []
        for task in self.ledger.list_tasks(limit=sys.maxsize):  # newest first
            if start is not None and (task.created_at.isoformat(), task.task_id) >= start:
                continue
            if everything or _is_requester(task, principal):
                page.append(task)
                if len(page) == limit:
                    break
        return page

    @staticmethod
    def cursor(task: TaskRecord) -> str:
        """The opaque cursor that continues a listing after ``task``."""
        key = f"{task.created_at.isoformat()}|{task.task_id}"
        return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """The (created_at, task_id) a cursor names; InvalidInputError when it is not a cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        created, _, task_id = text.partition("|")
        at = datetime.fromisoformat(created)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInputError("the cursor is not one a task listing returned") from None
    if not task_id or at.tzinfo is None:
        raise InvalidInputError("the cursor is not one a task listing returned")
    return at.isoformat(), task_id
