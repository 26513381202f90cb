"""Loops and circuits through the coordinator's own admission path, on every ledger (issue 12).

These were once tested only through ``BudgetGuard.admit_tool_call``, a side API no shipped code called.
Here the agent loop itself decides each call, the executor double executes what it dispatches, and the
tests read what a person would: the task's state, its halt reason, what was executed and what was spent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcage.envelopes import ToolError
from agentcage.ledger import Ledger, TaskState
from tests.functional.coordinator.coordinator_support import (
    Driver,
    FakeClock,
    FakeExecutor,
    make_coordinator,
    open_test_ledger,
)

VENDOR = "Ask vendor V-1042 for terms on 500 x WIDGET-9."
VENDOR_TOOL = "negotiateVendorTerms"


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    with open_test_ledger(request.param, FakeClock(), tmp_path) as opened:
        yield opened


def _refuses_input(tool: str, args: dict[str, Any]) -> tuple[str, Any, ToolError | None]:
    """The vendor refuses the request itself (a 4xx): not a failure of the service, so no circuit."""
    return "error", None, ToolError(code="invalid_input", message="quantity above the vendor's limit")


def _vendor_down(tool: str, args: dict[str, Any]) -> tuple[str, Any, ToolError | None]:
    return "error", None, ToolError(code="upstream_unavailable", message=f"{tool} answered 503")


def _start_vendor_task(driver: Driver) -> str:
    return driver.start(VENDOR, agent="procurement-agent", context={"scenario": "runaway_vendor"})


def test_the_same_call_repeated_is_a_loop_that_halts_the_task_before_it_runs_again(ledger: Ledger) -> None:
    # GIVEN a model that repeats the identical call after every refusal, and a vendor that refuses it
    coordinator = make_coordinator(ledger)
    executor = FakeExecutor(ledger, answer=_refuses_input)
    threshold = coordinator.settings.budget.loop_threshold

    # WHEN the task runs to its end
    task_id = _start_vendor_task(Driver(coordinator, executor))

    # THEN the call ran threshold - 1 times, and the next identical one halted the task instead of running
    task = ledger.get_task(task_id)
    assert task.state is TaskState.HALTED
    assert (task.halt_reason or "").startswith("loop_detected")
    assert [request.tool for request in executor.executed] == [VENDOR_TOOL] * (threshold - 1)
    assert ledger.budget_state(task_id).used.tool_calls == threshold - 1
    assert ledger.budget_state(task_id).reserved.is_zero()


def test_failures_open_the_circuit_halt_the_task_and_the_next_task_is_refused_without_a_call(
    ledger: Ledger,
) -> None:
    # GIVEN a vendor that answers 503 to everything
    coordinator = make_coordinator(ledger)
    executor = FakeExecutor(ledger, answer=_vendor_down)
    failures = coordinator.settings.budget.breaker.failure_threshold

    # WHEN a task keeps asking it
    first = _start_vendor_task(Driver(coordinator, executor))

    # THEN the failure that opened the circuit halted the task with a readable reason
    halted = ledger.get_task(first)
    assert halted.state is TaskState.HALTED
    assert f"{VENDOR_TOOL} failed {failures} times in a row" in (halted.halt_reason or "")
    assert len(executor.executed) == failures

    # AND a second task's call to the same tool is answered circuit_open without reaching the vendor,
    # and costs that task no tool call
    second = _start_vendor_task(Driver(coordinator, executor))
    assert len(executor.executed) == failures
    assert ledger.budget_state(second).used.tool_calls == 0
    assert ledger.budget_state(second).reserved.is_zero()
    assert ledger.get_task(second).state in {TaskState.HALTED, TaskState.COMPLETED, TaskState.FAILED}
    refused = [e for e in ledger.audit(second) if e.kind == "circuit_open"]
    assert refused, [e.kind for e in ledger.audit(second)]


def test_a_call_past_the_tool_call_limit_halts_the_task_and_is_never_dispatched(ledger: Ledger) -> None:
    # GIVEN a task allowed one tool call, whose model wants more than one
    coordinator = make_coordinator(ledger)
    executor = FakeExecutor(ledger, answer=_refuses_input)

    # WHEN it runs
    task_id = Driver(coordinator, executor).start(
        VENDOR, agent="procurement-agent", context={"scenario": "runaway_vendor"}, budget={"tool_calls": 1}
    )

    # THEN the second call was refused by the budget: one execution, the task halted on tool_calls
    task = ledger.get_task(task_id)
    assert len(executor.executed) == 1
    assert task.state is TaskState.HALTED
    assert (task.halt_reason or "").startswith("budget_exceeded")
    assert "tool_calls" in (task.halt_reason or "") or "tool call" in (task.halt_reason or "")
    assert ledger.budget_state(task_id).used.tool_calls == 1
