"""The coordinator service on the memory ledger: starting, stepping, redelivery, approvals, breakers."""

from __future__ import annotations

from typing import Any

import pytest

from agentcage.approvals import Principal
from agentcage.coordinator import Coordinator, Outbox
from agentcage.envelopes import AgentStep
from agentcage.errors import (
    ApprovalAlreadyDecidedError,
    ApprovalExpiredError,
    ConflictError,
    InvalidInputError,
    PolicyDeniedError,
    SelfApprovalError,
    UnknownAgentError,
)
from agentcage.ledger import MemoryLedger
from agentcage.trace import parse_traceparent
from tests.functional.coordinator.coordinator_support import (
    APPROVER,
    FINANCE,
    REQUESTER,
    Driver,
    FakeClock,
    FakeExecutor,
    RecordingNotifier,
    TimingOutModel,
    budget_config,
    make_coordinator,
)

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(clock: FakeClock) -> MemoryLedger:
    return MemoryLedger(breaker=budget_config().breaker, clock=clock)


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def coordinator(ledger: MemoryLedger, notifier: RecordingNotifier) -> Coordinator:
    return make_coordinator(ledger, notifier=notifier)


@pytest.fixture
def driver(coordinator: Coordinator, ledger: MemoryLedger) -> Driver:
    return Driver(coordinator, FakeExecutor(ledger))


def test_start_task_continues_the_callers_trace_and_names_the_first_step(coordinator: Coordinator) -> None:
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    started = coordinator.start_task({"request": REFUND}, traceparent=caller)

    assert started.task.state.value == "pending"
    assert started.task.agent_id == "returns-coordinator"
    assert started.step.step == 1
    assert started.step.task_id == started.task.task_id
    assert parse_traceparent(started.task.traceparent or "").trace_id == caller.split("-")[1]
    assert started.step.trace.trace_id == caller.split("-")[1]
    assert started.task.limits.model_steps == 12  # the agent's own default
    assert [e.kind for e in coordinator.ledger.audit(started.task.task_id)] == ["task_created"]


def test_start_task_refuses_unknown_agents_and_budgets_above_the_ceiling(coordinator: Coordinator) -> None:
    with pytest.raises(UnknownAgentError):
        coordinator.start_task({"request": "x", "agent": "nobody"})
    with pytest.raises(InvalidInputError, match="ceiling"):
        coordinator.start_task({"request": "x", "budget": {"model_steps": 10_000}})
    tight = coordinator.start_task({"request": "x", "budget": {"model_steps": 2, "deadline_seconds": 60}})
    assert tight.task.limits.model_steps == 2


def test_a_redelivered_step_re_emits_the_same_requests_and_reserves_nothing(
    coordinator: Coordinator, ledger: MemoryLedger
) -> None:
    started = coordinator.start_task({"request": REFUND}, requester=REQUESTER)
    first = coordinator.run_step(started.step)
    budget = ledger.budget_state(started.task.task_id)

    again = coordinator.run_step(started.step)

    assert [r.model_dump() for r in again.tool_requests] == [r.model_dump() for r in first.tool_requests]
    assert len(first.tool_requests) == 2
    assert not again.agent_steps
    assert ledger.budget_state(started.task.task_id) == budget
    thoughts = [e for e in ledger.audit(started.task.task_id) if e.kind == "thought"]
    assert len(thoughts) == 1


def test_steps_of_finished_waiting_or_future_steps_are_ignored(
    coordinator: Coordinator, driver: Driver
) -> None:
    task_id = driver.start(REFUND)
    assert coordinator.task(task_id).state.value == "awaiting_approval"
    step = AgentStep(task_id=task_id, step=4, traceparent=coordinator.task(task_id).traceparent or "")
    assert not coordinator.run_step(step)
    assert not coordinator.run_step(step.model_copy(update={"step": 9}))
    ignored = [e.data["reason"] for e in coordinator.ledger.audit(task_id) if e.kind == "step_ignored"]
    assert ignored == ["task is awaiting_approval", "task is awaiting_approval"]


def test_two_results_racing_to_finish_a_step_advance_it_once(
    coordinator: Coordinator, ledger: MemoryLedger
) -> None:
    started = coordinator.start_task({"request": REFUND}, requester=REQUESTER)
    outbox = coordinator.run_step(started.step)
    executor = FakeExecutor(ledger)
    results = [executor.execute(r) for r in outbox.tool_requests]

    # Both results are recorded before either checks the step (the interleaving of a race).
    for result in results:
        assert result is not None
        ledger.record_tool_result(
            result.task_id,
            result.request_id,
            {"status": "ok", "content": result.result, "tool": result.tool, "source": "executor"},
        )
    advanced = [coordinator.record_result(r) for r in results if r is not None]

    assert sum(len(o.agent_steps) for o in advanced) == 1
    # the winner's redelivery (its send may have failed) emits the step again; the loser's does not
    winner = next(r for r, o in zip(results, advanced, strict=True) if o.agent_steps)
    assert winner is not None
    assert coordinator.record_result(winner).agent_steps[0].step == 2


def test_the_requester_cannot_approve_a_call_made_on_their_own_behalf(
    coordinator: Coordinator, driver: Driver
) -> None:
    task_id = driver.start(REFUND)
    (pending,) = coordinator.ledger.pending_approvals(task_id)
    myself = Principal(id=REQUESTER.id, name=REQUESTER.name, roles=("finance",))

    with pytest.raises(SelfApprovalError) as refused:
        coordinator.decide_approval(pending.approval_id, approve=True, principal=myself)

    assert refused.value.details["reason"] == "requester"
    assert coordinator.ledger.get_approval(pending.approval_id).status.value == "pending"
    # another person may
    assert coordinator.decide_approval(pending.approval_id, approve=True, principal=FINANCE).tool_requests


def test_an_approval_is_decided_once_by_someone_other_than_the_agent(
    coordinator: Coordinator, driver: Driver, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    task_id = driver.start(REFUND)
    (pending,) = coordinator.ledger.pending_approvals(task_id)
    assert (
        notifier.notices[0].approval_url
        == f"https://coord.example/api/console/approvals/{pending.approval_id}"
    )

    with pytest.raises(SelfApprovalError):
        coordinator.decide_approval(
            pending.approval_id, approve=True, principal=Principal(id="returns-coordinator", name="me")
        )
    outbox = coordinator.decide_approval(pending.approval_id, approve=True, principal=APPROVER)
    (request,) = outbox.tool_requests
    assert request.approval_id == pending.approval_id
    assert request.args_digest == pending.args_digest
    assert coordinator.task(task_id).state.value == "running"
    with pytest.raises(ApprovalAlreadyDecidedError):
        coordinator.decide_approval(pending.approval_id, approve=False, principal=FINANCE)


def test_an_expired_approval_is_410_and_then_answers_the_model(
    coordinator: Coordinator, driver: Driver, clock: FakeClock
) -> None:
    task_id = driver.start(REFUND, budget={"deadline_seconds": 7200})
    (pending,) = coordinator.ledger.pending_approvals(task_id)
    clock.advance(3601)

    with pytest.raises(ApprovalExpiredError):
        coordinator.decide_approval(pending.approval_id, approve=True, principal=APPROVER)
    driver.push(coordinator.expire_approval(pending.approval_id))
    driver.run()

    assert coordinator.task(task_id).state.value == "completed"
    assert "approval_expired" in (coordinator.task(task_id).final_answer or "")


def _big_orders(tool: str, args: dict[str, Any]) -> Any:
    from tests.functional.coordinator.coordinator_support import _canned

    if tool == "listRecentOrders":
        return (
            "ok",
            {"customer_id": args["customer_id"], "orders": [{"order_id": "O-50001", "total_cents": 75000}]},
            None,
        )
    return _canned(tool, args)


def test_a_refund_above_the_finance_threshold_needs_a_finance_approver(
    coordinator: Coordinator, ledger: MemoryLedger
) -> None:
    driver = Driver(coordinator, FakeExecutor(ledger, answer=_big_orders))
    task_id = driver.start(REFUND)
    (pending,) = coordinator.ledger.pending_approvals(task_id)
    assert pending.args["amount_cents"] == 75000

    with pytest.raises(PolicyDeniedError, match="finance") as refused:
        coordinator.decide_approval(pending.approval_id, approve=True, principal=APPROVER)
    assert refused.value.details["approver_roles"] == ["finance"]
    assert coordinator.ledger.get_approval(pending.approval_id).status.value == "pending"  # still decidable

    driver.push(coordinator.decide_approval(pending.approval_id, approve=True, principal=FINANCE))
    driver.run()
    assert coordinator.task(task_id).state.value == "completed"
    assert coordinator.ledger.get_approval(pending.approval_id).approver == FINANCE.id


def test_deciding_an_approval_of_a_finished_task_is_a_conflict(
    coordinator: Coordinator, driver: Driver
) -> None:
    task_id = driver.start(REFUND)
    (pending,) = coordinator.ledger.pending_approvals(task_id)
    coordinator.fail_task(task_id, "operator stopped it")
    with pytest.raises(ConflictError):
        coordinator.decide_approval(pending.approval_id, approve=True, principal=APPROVER)
    assert coordinator.task(task_id).error == {"code": "step_failed", "message": "operator stopped it"}


def test_the_runaway_vendor_halts_with_a_readable_reason_inside_its_budget(
    coordinator: Coordinator, driver: Driver, ledger: MemoryLedger
) -> None:
    task_id = driver.start("Negotiate with vendor V-1042", agent="procurement-agent")

    task = coordinator.task(task_id)
    threshold = ledger.breaker.failure_threshold
    assert task.state.value == "halted"
    assert task.halt_reason is not None
    assert "circuit_open" in task.halt_reason
    assert f"failed {threshold} times in a row" in task.halt_reason
    assert task.used.exceeds(task.limits.amounts()) == []
    # the executor counts each failure once: the circuit opens after exactly `threshold` calls
    assert len(driver.executor.executed) == threshold
    assert ledger.circuit("negotiateVendorTerms").consecutive_failures == threshold


def test_after_the_cool_down_one_probe_reaches_the_tool_and_closes_the_circuit(
    coordinator: Coordinator, driver: Driver, ledger: MemoryLedger, clock: FakeClock
) -> None:
    # GIVEN the vendor's circuit opened by a runaway task
    driver.start("Negotiate with vendor V-1042", agent="procurement-agent")
    assert ledger.circuit("negotiateVendorTerms").state.value == "open"
    calls_before = len(driver.executor.executed)
    # WHEN the cool-down passes, the vendor is back, and the agent is started again
    clock.advance(ledger.breaker.cooldown_seconds + 1)
    driver.executor.answer = lambda tool, args: (
        "ok",
        {"vendor_id": "V-1042", "unit_price_cents": 1150},
        None,
    )
    driver.start("Negotiate with vendor V-1042", agent="procurement-agent")
    # THEN the coordinator let the call through without claiming the probe, the executor's probe ran,
    # and its success closed the circuit for everyone
    assert len(driver.executor.executed) > calls_before
    assert ledger.circuit("negotiateVendorTerms").state.value == "closed"


def test_a_task_past_its_deadline_halts_instead_of_calling_the_model(
    coordinator: Coordinator, clock: FakeClock
) -> None:
    started = coordinator.start_task(
        {"request": REFUND, "budget": {"deadline_seconds": 60}}, requester=REQUESTER
    )
    clock.advance(61)

    assert coordinator.run_step(started.step) == Outbox()
    task = coordinator.task(started.task.task_id)
    assert task.state.value == "halted"
    assert "deadline" in (task.halt_reason or "")
    assert task.used.tokens == 0


def test_a_redelivered_approval_step_neither_notifies_nor_asks_again(
    coordinator: Coordinator, driver: Driver, notifier: RecordingNotifier
) -> None:
    task_id = driver.start(REFUND)
    step = AgentStep(task_id=task_id, step=3, traceparent=coordinator.task(task_id).traceparent or "")

    assert coordinator.run_step(step) == Outbox()

    assert len(notifier.notices) == 1
    assert len(coordinator.ledger.pending_approvals(task_id)) == 1
    assert coordinator.task(task_id).state.value == "awaiting_approval"


def test_the_package_exports_what_it_declares() -> None:
    import agentcage.coordinator as package

    exported = {name for name in dir(package) if not name.startswith("_")}
    modules = {
        "access",
        "core",
        "decisions",
        "delegation",
        "expiry",
        "external",
        "http",
        "messages",
        "model_call",
        "planning",
        "results",
        "service",
        "settings",
        "state",
        "steps",
        "targets",
        "undelivered",
        "views",
        "vouching",
    }
    assert set(package.__all__) == exported - modules


class _Overspender(TimingOutModel):
    """Reports far more output than it was allowed (a provider that ignored max_tokens)."""

    def _complete_once(self, request: Any, timeout: float) -> Any:
        completion = super()._complete_once(request, timeout)
        return completion.model_copy(
            update={"usage": completion.usage.model_copy(update={"output_tokens": 5_000})}
        )


def test_an_overspending_model_call_is_counted_in_full_and_the_step_goes_on(ledger: MemoryLedger) -> None:
    coordinator = make_coordinator(ledger, model=_Overspender(fail_on=set()))
    started = coordinator.start_task({"request": REFUND}, requester=REQUESTER)

    outbox = coordinator.run_step(started.step)

    assert len(outbox.tool_requests) == 2
    task = coordinator.task(started.task.task_id)
    assert task.used.tokens > 5_000
    assert task.reserved.model_steps == 0
    assert "overspend" in [e.kind for e in ledger.audit(task.task_id)]


def test_an_executor_circuit_open_is_told_once_then_halts_the_task(
    coordinator: Coordinator, driver: Driver, ledger: MemoryLedger
) -> None:
    # GIVEN a vendor call dispatched while its circuit was closed, and the circuit opening meanwhile
    # (another task's failures), so the executor answers circuit_open
    started = coordinator.start_task(
        {"request": "Negotiate with vendor V-1042", "agent": "procurement-agent"}
    )
    outbox = coordinator.run_step(started.step)
    [request] = outbox.tool_requests
    for _ in range(ledger.breaker.failure_threshold):
        ledger.record_tool_outcome(request.tool, ok=False)
    result = driver.executor.execute(request)
    assert result is not None
    assert result.status == "circuit_open"
    # WHEN the result comes back
    driver.push(coordinator.record_result(result))
    # THEN the task goes on (the model hears it once) ...
    assert coordinator.task(started.task.task_id).state.value == "running"
    # ... and when the agent asks for the tool again while the circuit is open, the task halts
    driver.run()
    task = coordinator.task(started.task.task_id)
    assert task.state.value == "halted"
    assert task.halt_reason is not None
    assert "circuit_open" in task.halt_reason
    assert driver.executor.executed == []
