"""Hub and spoke: the coordinator agent delegates to a specialist that sees only its own toolset."""

from __future__ import annotations

from agentcage.coordinator import DELEGATE_TOOL
from agentcage.ledger import MemoryLedger
from agentcage.models import ModelProvider
from agentcage.models.base import ModelRequest
from agentcage.models.scripted import SCRIPTED_MODEL_NAME
from agentcage.models.types import AssistantMessage, Completion, ToolCall, ToolResultMessage, Usage
from tests.functional.coordinator.coordinator_support import Driver, FakeClock, FakeExecutor, make_coordinator


class HubModel(ModelProvider):
    """The hub delegates once (or with bad arguments first); the specialist answers at once."""

    provider = "scripted"

    def __init__(self, *, first_arguments: dict[str, object]) -> None:
        super().__init__(model=SCRIPTED_MODEL_NAME)
        self.first_arguments = first_arguments
        self.tools_seen: list[list[str]] = []

    def _complete_once(self, request: ModelRequest, timeout: float) -> Completion:
        names = [tool["function"]["name"] for tool in request.tools]
        self.tools_seen.append(names)
        usage = Usage(input_tokens=40, output_tokens=10)
        if DELEGATE_TOOL not in names:  # the specialist
            return Completion(
                text="Low legal risk.",
                usage=usage,
                model=self.model,
                provider="scripted",
                finish_reason="stop",
            )
        results = [m for m in request.messages if isinstance(m, ToolResultMessage)]
        turns = sum(isinstance(m, AssistantMessage) for m in request.messages)
        if not results or (results[-1].status != "ok" and turns < 2):
            arguments = (
                self.first_arguments if turns == 0 else {"agent": "legal-risk-analyst", "request": "Risk?"}
            )
            call = ToolCall(id=f"call_{turns}", name=DELEGATE_TOOL, arguments=arguments)
            return Completion(
                tool_calls=(call,),
                usage=usage,
                model=self.model,
                provider="scripted",
                finish_reason="tool_calls",
            )
        return Completion(
            text=f"The specialist said: {results[-1].content}",
            usage=usage,
            model=self.model,
            provider="scripted",
            finish_reason="stop",
        )


def test_the_coordinator_delegates_and_the_specialists_answer_comes_back_as_the_result() -> None:
    clock = FakeClock()
    ledger = MemoryLedger(clock=clock)
    model = HubModel(first_arguments={"agent": "legal-risk-analyst", "request": "Is a 45-day refund risky?"})
    coordinator = make_coordinator(ledger, model=model)
    driver = Driver(coordinator, FakeExecutor(ledger))

    task_id = driver.start("Should we refund order O-50001?")

    parent = coordinator.task_view(task_id)
    assert parent["state"] == "completed"
    call = parent["steps"][0]["calls"][0]
    assert call["tool"] == DELEGATE_TOOL
    assert call["outcome"] == "delegated"
    child = coordinator.task_view(call["child_task_id"])
    assert child["agent"] == "legal-risk-analyst"
    assert child["parent_task_id"] == task_id
    assert child["final_answer"] == "Low legal risk."
    assert "Low legal risk." in parent["final_answer"]
    # the specialist was offered only its own toolset; the hub got delegate beside its own
    assert model.tools_seen[1] == ["assessReturnException"]
    assert DELEGATE_TOOL in model.tools_seen[0]
    assert "createRefund" in model.tools_seen[0]
    assert child["budget"]["limits"]["model_steps"] <= 4
    assert parent["budget"]["used"]["tool_calls"] == 1


def test_a_delegation_to_an_agent_that_is_not_a_specialist_is_refused_to_the_model() -> None:
    ledger = MemoryLedger(clock=FakeClock())
    model = HubModel(first_arguments={"agent": "janitor-agent", "request": "delete things"})
    coordinator = make_coordinator(ledger, model=model)
    driver = Driver(coordinator, FakeExecutor(ledger))

    task_id = driver.start("Should we refund order O-50001?")

    view = coordinator.task_view(task_id)
    refused, accepted = view["steps"][0]["calls"][0], view["steps"][1]["calls"][0]
    assert refused["outcome"] == "local"
    assert refused["result"]["content"]["error"]["code"] == "invalid_arguments"
    assert accepted["outcome"] == "delegated"
    assert view["state"] == "completed"
    assert [t["agent"] for t in map(coordinator.task_view, [accepted["child_task_id"]])] == [
        "legal-risk-analyst"
    ]


def test_a_child_failed_outside_the_coordinator_is_still_reported_to_its_waiting_parent() -> None:
    # GIVEN a parent that delegated, and its child failed straight in the ledger before its first step
    # (as the AWS dead-letters Lambda does when the child's result can never reach Azure)
    clock = FakeClock()
    ledger = MemoryLedger(clock=clock)
    model = HubModel(first_arguments={"agent": "legal-risk-analyst", "request": "Is a 45-day refund risky?"})
    coordinator = make_coordinator(ledger, model=model)
    started = coordinator.start_task({"request": "Should we refund order O-50001?"})
    outbox = coordinator.run_step(started.step)
    [child_step] = [s for s in outbox.agent_steps if s.task_id != started.task.task_id]
    ledger.transition(child_step.task_id, "failed", reason="dead_lettered: its result never reached Azure")
    # WHEN the coordinator's periodic sweep runs
    swept = coordinator.expire_overdue_approvals(clock.advance(60))
    # THEN the parent's delegate call is answered with the failure and the parent's next step is sent
    assert [s.task_id for s in swept.agent_steps] == [started.task.task_id]
    call = coordinator.task_view(started.task.task_id)["steps"][0]["calls"][0]
    assert call["result"]["status"] == "error"
    assert call["result"]["content"]["error"]["code"] == "delegate_failed"
    # AND a second sweep sends nothing more
    assert coordinator.expire_overdue_approvals(clock.advance(60)).agent_steps == []
