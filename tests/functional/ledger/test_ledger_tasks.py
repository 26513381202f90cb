"""Conformance: tasks, the state machine and checkpoints behave the same on every backend."""

from __future__ import annotations

import pytest

from agentcage.errors import ConflictError, InvalidInputError, InvalidTransitionError, TaskNotFoundError
from agentcage.ledger import Ledger, TaskState
from tests.functional.ledger.ledger_support import FakeClock, new_task, run_threads


def test_created_task_reads_back_with_every_field(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a new task
    created = new_task(ledger, clock, running=False)

    # WHEN it is read back
    loaded = ledger.get_task(created.task_id)

    # THEN every field survived the store, and it starts pending with nothing used
    assert loaded == created
    assert loaded.state is TaskState.PENDING
    assert loaded.context == {"customer_id": "C-1", "channel": "phone"}
    assert loaded.used.is_zero()
    assert loaded.reserved.is_zero()


def test_unknown_task_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(TaskNotFoundError):
        ledger.get_task("task-missing")


def test_task_id_that_exists_conflicts(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    with pytest.raises(ConflictError):
        ledger.create_task(
            agent_id="a", environment="dev", request="again", limits=task.limits, task_id=task.task_id
        )


@pytest.mark.parametrize("task_id", ["", "x", "has.dot", "has space", "a" * 41, "../etc"])
def test_malformed_task_id_is_invalid_input(ledger: Ledger, task_id: str) -> None:
    with pytest.raises(InvalidInputError):
        ledger.get_task(task_id)


def test_task_goes_through_approval_to_completion(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a running task
    task = new_task(ledger, clock)

    # WHEN it pauses for approval, resumes and completes
    ledger.transition(task.task_id, "awaiting_approval", expected="running")
    ledger.transition(task.task_id, "running", expected="awaiting_approval")
    done = ledger.transition(task.task_id, "completed", final_answer="refund of 42.00 EUR issued")

    # THEN the answer is kept and every change is in the audit log, in order
    assert done.state is TaskState.COMPLETED
    assert ledger.get_task(task.task_id).final_answer == "refund of 42.00 EUR issued"
    moves = [(e.data["from"], e.data["to"]) for e in ledger.audit(task.task_id) if e.kind == "state"]
    assert moves == [
        ("pending", "running"),
        ("running", "awaiting_approval"),
        ("awaiting_approval", "running"),
        ("running", "completed"),
    ]


@pytest.mark.parametrize(
    ("path", "invalid"),
    [
        ([], "completed"),
        ([], "awaiting_approval"),
        (["running", "completed"], "running"),
        (["running", "halted"], "running"),
        (["failed"], "running"),
        (["running", "awaiting_approval"], "completed"),
    ],
)
def test_invalid_transition_is_rejected_and_changes_nothing(
    ledger: Ledger, clock: FakeClock, path: list[str], invalid: str
) -> None:
    task = new_task(ledger, clock, running=False)
    for state in path:
        ledger.transition(task.task_id, state)
    before = ledger.get_task(task.task_id)

    with pytest.raises(InvalidTransitionError):
        ledger.transition(task.task_id, invalid)

    assert ledger.get_task(task.task_id).state is before.state


def test_transition_from_an_unexpected_state_is_rejected(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    with pytest.raises(InvalidTransitionError):
        ledger.transition(task.task_id, "halted", expected="awaiting_approval")
    assert ledger.get_task(task.task_id).state is TaskState.RUNNING


def test_halt_and_failure_keep_their_reason(ledger: Ledger, clock: FakeClock) -> None:
    halted = new_task(ledger, clock)
    failed = new_task(ledger, clock)

    ledger.transition(halted.task_id, "halted", reason="loop_detected: negotiateVendorTerms x3")
    ledger.transition(failed.task_id, "failed", error={"code": "model_error", "message": "502 from model"})

    assert ledger.get_task(halted.task_id).halt_reason == "loop_detected: negotiateVendorTerms x3"
    assert ledger.get_task(failed.task_id).error == {"code": "model_error", "message": "502 from model"}


def test_concurrent_transitions_let_exactly_one_win(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a running task and eight workers that each try to finish it
    task = new_task(ledger, clock)

    errors = run_threads(
        8, lambda i: ledger.transition(task.task_id, "completed", expected="running", final_answer=str(i))
    )

    # THEN one transition won and seven were refused as invalid
    assert len(errors) == 7
    assert all(isinstance(e, InvalidTransitionError) for e in errors)
    assert ledger.get_task(task.task_id).state is TaskState.COMPLETED


def test_list_tasks_is_newest_first_and_filters_by_state(ledger: Ledger, clock: FakeClock) -> None:
    first = new_task(ledger, clock)
    clock.advance(1)
    second = new_task(ledger, clock, running=False)
    clock.advance(1)
    third = new_task(ledger, clock)

    assert [t.task_id for t in ledger.list_tasks()] == [third.task_id, second.task_id, first.task_id]
    assert [t.task_id for t in ledger.list_tasks(state="pending")] == [second.task_id]
    assert [t.task_id for t in ledger.list_tasks(limit=1)] == [third.task_id]


def test_checkpoint_is_saved_once_and_advances_the_step(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)

    first = ledger.save_checkpoint(task.task_id, 1, {"messages": 3})
    again = ledger.save_checkpoint(task.task_id, 1, {"messages": 99})

    assert (first, again) == (True, False)
    checkpoint = ledger.last_checkpoint(task.task_id)
    assert checkpoint is not None
    assert checkpoint.data == {"messages": 3}
    assert ledger.get_task(task.task_id).step == 1


def test_redelivered_step_resumes_from_the_last_checkpoint(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a task that checkpointed steps 0..2, then its worker died in step 3 (no checkpoint)
    task = new_task(ledger, clock)
    for step in range(3):
        ledger.save_checkpoint(task.task_id, step, {"step": step, "tool_results": list(range(step))})

    # WHEN step 2's message is redelivered and a new worker looks for where to resume
    redo = ledger.save_checkpoint(task.task_id, 2, {"step": 2, "tool_results": ["again"]})
    resume = ledger.last_checkpoint(task.task_id)

    # THEN step 2 is not redone, and the worker resumes from step 2's saved state
    assert redo is False
    assert resume is not None
    assert resume.step == 2
    assert resume.data == {"step": 2, "tool_results": [0, 1]}
    assert ledger.get_task(task.task_id).step == 2


def test_late_checkpoint_of_an_older_step_does_not_move_the_step_back(
    ledger: Ledger, clock: FakeClock
) -> None:
    task = new_task(ledger, clock)
    ledger.save_checkpoint(task.task_id, 5, {"n": 5})

    assert ledger.save_checkpoint(task.task_id, 3, {"n": 3}) is True
    assert ledger.get_task(task.task_id).step == 5
    last = ledger.last_checkpoint(task.task_id)
    assert last is not None
    assert last.step == 5


def test_new_task_has_no_checkpoint_and_unknown_task_is_not_found(ledger: Ledger, clock: FakeClock) -> None:
    task = new_task(ledger, clock)
    assert ledger.last_checkpoint(task.task_id) is None
    with pytest.raises(TaskNotFoundError):
        ledger.save_checkpoint("task-missing", 0, {})
