"""Need-to-know: the requester, approvers of a pending approval and auditors read a task; nobody else
learns it exists. Listing pages the caller's own tasks (an auditor's: all) newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentcage.approvals import Principal
from agentcage.budget import BudgetLimits
from agentcage.coordinator import AccessRules, TaskAccess, requester_of
from agentcage.errors import GovernanceError, InvalidInputError, TaskNotFoundError
from agentcage.ledger import MemoryLedger, Requester, TaskRecord

SAM = Principal(id="oid-sam", name="Sam", roles=("service_rep",))
KIM = Principal(id="oid-kim", name="Kim", roles=("service_rep",))
RITA = Principal(id="oid-rita", name="Rita", roles=("approver",))
AUDREY = Principal(id="oid-audrey", name="Audrey", roles=("auditor",))


def _task(ledger: MemoryLedger, owner: Principal | None) -> TaskRecord:
    limits = BudgetLimits(
        tokens=10,
        cost_micro_usd=10,
        model_steps=1,
        tool_calls=1,
        deadline=datetime.now(UTC) + timedelta(hours=1),
    )
    requester = requester_of(owner) if owner is not None else None
    return ledger.create_task(
        agent_id="a", environment="dev", request="r", limits=limits, requester=requester
    )


def _approval(ledger: MemoryLedger, task: TaskRecord) -> str:
    approval = ledger.create_approval(
        task.task_id, step=1, agent_id="a", tool="createRefund", args={"x": 1}, args_digest="0" * 64
    )
    return approval.approval_id


def test_the_requester_reads_their_task_and_another_requester_gets_the_unknown_ids_answer() -> None:
    ledger = MemoryLedger()
    access = TaskAccess(ledger)
    task = _task(ledger, SAM)

    assert access.readable_task(task.task_id, SAM).task_id == task.task_id
    with pytest.raises(TaskNotFoundError) as hidden:
        access.readable_task(task.task_id, KIM)
    with pytest.raises(TaskNotFoundError) as unknown:
        access.readable_task("task-doesnotexist", KIM)
    assert hidden.value.message == f"no task {task.task_id!r}"
    assert unknown.value.message == "no task 'task-doesnotexist'"
    assert hidden.value.status == unknown.value.status == 404


def test_an_approver_reads_a_task_while_it_waits_and_after_deciding_it() -> None:
    ledger = MemoryLedger()
    access = TaskAccess(ledger)
    task = _task(ledger, SAM)
    other_approver = Principal(id="oid-otto", name="Otto", roles=("finance",))

    assert not access.may_read(task, RITA)  # nothing pending: nothing to decide
    approval_id = _approval(ledger, task)
    assert access.may_read(task, RITA)
    ledger.decide_approval(approval_id, True, approver=RITA.id, approver_roles=list(RITA.roles))
    assert access.may_read(task, RITA)  # who decided keeps seeing what they decided
    assert not access.may_read(task, other_approver)


def test_an_auditor_reads_everything_and_decides_nothing() -> None:
    ledger = MemoryLedger()
    access = TaskAccess(ledger)
    task = _task(ledger, SAM)

    assert access.readable_task(task.task_id, AUDREY).task_id == task.task_id
    with pytest.raises(GovernanceError) as refused:
        access.check_may_decide(task, AUDREY)
    assert refused.value.status == 403
    access.check_may_decide(task, SAM)
    access.check_may_decide(task, RITA)


def test_a_task_without_a_recorded_requester_is_nobodys_but_the_auditors() -> None:
    ledger = MemoryLedger()
    access = TaskAccess(ledger)
    task = _task(ledger, None)

    assert not access.may_read(task, SAM)
    assert access.may_read(task, AUDREY)


def test_the_roles_are_configuration() -> None:
    rules = AccessRules.from_env(
        {"AGENTCAGE_APPROVER_ROLES": "clerk", "AGENTCAGE_AUDITOR_ROLES": "sox, auditor"}
    )

    assert rules.is_approver(Principal(id="x", name="x", roles=("clerk",)))
    assert not rules.is_approver(RITA)
    assert rules.is_auditor(Principal(id="y", name="y", roles=("sox",)))


def test_listing_pages_the_callers_own_tasks_newest_first_and_all_for_an_auditor() -> None:
    ledger = MemoryLedger()
    access = TaskAccess(ledger)
    sams = [_task(ledger, SAM).task_id for _ in range(5)]
    kims = [_task(ledger, KIM).task_id for _ in range(2)]

    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = access.tasks_for(SAM, limit=2, after=after)
        pages.append([t.task_id for t in page])
        if len(page) < 2:
            break
        after = access.cursor(page[-1])
    listed = [task_id for page in pages for task_id in page]
    assert sorted(listed) == sorted(sams)
    assert len(listed) == len(set(listed)) == 5
    created = {t.task_id: (t.created_at, t.task_id) for t in ledger.list_tasks(limit=100)}
    assert listed == sorted(listed, key=lambda task_id: created[task_id], reverse=True)
    assert {t.task_id for t in access.tasks_for(AUDREY, limit=100, after=None)} == {*sams, *kims}
    assert access.tasks_for(RITA, limit=10, after=None) == []


@pytest.mark.parametrize("cursor", ["not base64!", "bm90IGEgY3Vyc29y", ""])
def test_a_cursor_no_listing_returned_is_invalid_input(cursor: str) -> None:
    access = TaskAccess(MemoryLedger())
    if not cursor:  # no cursor: the first page
        assert access.tasks_for(SAM, limit=1, after=cursor) == []
        return
    with pytest.raises(InvalidInputError):
        access.tasks_for(SAM, limit=1, after=cursor)


@pytest.mark.parametrize("limit", [0, 201])
def test_a_page_is_one_to_two_hundred_tasks(limit: int) -> None:
    with pytest.raises(InvalidInputError):
        TaskAccess(MemoryLedger()).tasks_for(SAM, limit=limit, after=None)


def test_requester_of_records_the_principals_kind_and_roles() -> None:
    app = Principal(id="11111111-aaaa", name="application 11111111-aaaa", roles=("service_rep",), kind="app")

    assert requester_of(app) == Requester(
        kind="app", id="11111111-aaaa", name="application 11111111-aaaa", roles=("service_rep",)
    )
