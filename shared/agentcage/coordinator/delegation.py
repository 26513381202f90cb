"""Hub and spoke: a coordinator agent asks a specialist through the governed ``delegate`` tool.

The tool is offered only to an agent whose definition names specialists, and only those names are
accepted (a JSON schema ``enum``). A delegation counts as one of the parent's tool calls and starts a
child task that runs as the specialist (so it sees only the specialist's toolset), with limits no
larger than the specialist's defaults nor than what the parent has left. When the child ends, its
final answer (or why it halted or failed) becomes the ``delegate`` call's result in the parent,
written once; the parent then advances like after any other result.

The child's link to its parent (``parent_task_id``/``parent_request_id`` in its context) is written
only here: ``POST /api/tasks`` refuses those keys, and a report is recorded only into a call of the
parent's checkpointed turn that delegated to exactly this child, so no other task can answer (or
block) another task's call.
"""

from __future__ import annotations

import logging
from typing import Any

from agentcage.budget.limits import BudgetLimits
from agentcage.coordinator.core import CoordinatorCore
from agentcage.coordinator.messages import Outbox
from agentcage.coordinator.state import PlannedCall, Turn, error_content, result_slot
from agentcage.errors import BudgetExceededError, InvalidInputError, TaskNotFoundError
from agentcage.ledger.models import TaskRecord, TaskState
from agentcage.tools.agents import AgentDefinition
from agentcage.tools.validation import ArgumentValidator

__all__ = ["DELEGATE_TOOL", "DelegationMixin"]

DELEGATE_TOOL = "delegate"

_log = logging.getLogger("agentcage.coordinator")


class DelegationMixin(CoordinatorCore):
    """The ``delegate`` tool: its schema, the child task, and the child's answer back to the parent."""

    def delegate_schema(self, agent: AgentDefinition) -> dict[str, Any]:
        """The ``delegate`` tool as the model sees it (its ``agent`` limited to this agent's specialists)."""
        names = ", ".join(
            f"{name} ({self.gate.agent(name).description or 'specialist'})" for name in agent.specialists
        )
        return {
            "type": "function",
            "function": {
                "name": DELEGATE_TOOL,
                "description": f"Ask a specialist agent and get its answer. Specialists: {names}.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "agent": {"type": "string", "enum": list(agent.specialists)},
                        "request": {"type": "string", "minLength": 1, "maxLength": 4000},
                    },
                    "required": ["agent", "request"],
                    "additionalProperties": False,
                },
            },
        }

    def plan_delegation(self, task: TaskRecord, agent: AgentDefinition, planned: PlannedCall) -> PlannedCall:
        """Validate the call, count it, and create the child task (started after the checkpoint)."""
        schema = self.delegate_schema(agent)["function"]["parameters"]
        problems = ArgumentValidator(schema, name=DELEGATE_TOOL).problems(planned.args)
        if problems:
            content = error_content(
                "invalid_arguments",
                f"invalid arguments for {DELEGATE_TOOL}: {len(problems)} problem(s)",
                problems=[p.to_dict() for p in problems],
            )
            slot = result_slot("error", content, tool=DELEGATE_TOOL, source="coordinator")
            refused = planned.model_copy(update={"outcome": "local", "local_result": slot})
            self._count_local_call(task, refused)
            return refused
        self._count_local_call(task, planned)  # one of the parent's tool calls, like any other
        specialist = self.gate.agent(str(planned.args["agent"]))
        child = self.ledger.create_task(
            agent_id=specialist.id,
            environment=task.environment,
            request=str(planned.args["request"]),
            limits=self._child_limits(task, specialist),
            context={"parent_task_id": task.task_id, "parent_request_id": planned.request_id},
            traceparent=self._trace_of(task).child().traceparent,
            requester=task.requester,  # a specialist acts for the same person, within their authority
        )
        self._audit(child, "task_created", {"agent": specialist.id, "parent_task_id": task.task_id})
        return planned.model_copy(update={"child_task_id": child.task_id})

    def _child_limits(self, task: TaskRecord, specialist: AgentDefinition) -> BudgetLimits:
        left = self.ledger.budget_state(task.task_id).remaining
        own = specialist.budget
        limits = BudgetLimits(
            tokens=min(own.max_tokens, left.tokens),
            cost_micro_usd=min(own.max_cost_micro_usd, left.cost_micro_usd),
            model_steps=min(own.max_model_steps, left.model_steps),
            tool_calls=min(own.max_tool_calls, left.tool_calls),
            deadline=task.limits.deadline,
        )
        if limits.model_steps < 1:
            raise BudgetExceededError("no model step left to delegate with", details={"limit": "model_steps"})
        return limits

    def start_children(self, task: TaskRecord, turn: Turn, *, fresh: bool) -> Outbox:  # noqa: ARG002
        """The first step of every child this turn created that has not started yet."""
        outbox = Outbox()
        for call in turn.calls:
            if call.outcome != "delegated" or not call.child_task_id:
                continue
            child = self.ledger.get_task(call.child_task_id)
            if child.state is TaskState.PENDING:
                outbox.add_step(child, self.agent_step(child, 1))
        return outbox

    def _delegated_to(self, child: TaskRecord, parent_id: str, request_id: str) -> bool:
        """Whether the parent's checkpointed turn has a ``delegate`` call ``request_id`` naming ``child``.

        The link in the child's context is only a pointer: the parent's own checkpoint, written when
        its step delegated, is what says that this child answers that call. A task whose context
        points elsewhere (``POST /api/tasks`` refuses the keys, but a stored task is not trusted on
        that alone) reports nothing: it can neither forge a result nor take a claim slot.
        """
        try:
            _, checkpoint = self._checkpoint(parent_id)
        except (TaskNotFoundError, InvalidInputError):
            return False
        turn = checkpoint.last
        matches = turn is not None and any(
            call.request_id == request_id
            and call.outcome == "delegated"
            and call.child_task_id == child.task_id
            for call in turn.calls
        )
        if not matches:
            _log.warning(
                "task %s names %s/%s as its parent call, which did not delegate to it; nothing reported",
                child.task_id,
                parent_id[:80],
                request_id[:80],
            )
        return matches

    def _report_to_parent(self, task_id: str, *, known: TaskRecord | None = None) -> Outbox:
        """When a child task has ended, hand its answer to the parent's ``delegate`` call (once).

        ``known`` is the task as the caller read it: its context (the link to a parent) never changes,
        so a task without a parent is not read again."""
        if known is not None and "parent_task_id" not in known.context:
            return Outbox()
        try:
            child = self.ledger.get_task(task_id)
        except TaskNotFoundError:
            return Outbox()
        parent_id, request_id = child.context.get("parent_task_id"), child.context.get("parent_request_id")
        if not child.state.is_final or not isinstance(parent_id, str) or not isinstance(request_id, str):
            return Outbox()
        if not self._delegated_to(child, parent_id, request_id):
            return Outbox()
        if child.state is TaskState.COMPLETED:
            slot = result_slot(
                "ok",
                {"agent": child.agent_id, "answer": child.final_answer},
                tool=DELEGATE_TOOL,
                source="delegate",
                child_task_id=child.task_id,
            )
        else:
            why = child.halt_reason or (child.error or {}).get("message") or child.state.value
            content = error_content(
                f"delegate_{child.state.value}", f"{child.agent_id} {child.state.value}: {why}"
            )
            slot = result_slot(
                "error", content, tool=DELEGATE_TOOL, source="delegate", child_task_id=child.task_id
            )
        if self._record(parent_id, request_id, slot):
            parent = self.ledger.get_task(parent_id)
            self._audit(parent, "delegate_result", {"child_task_id": child.task_id, "status": slot["status"]})
        step, checkpoint = self._checkpoint(parent_id)
        return self._maybe_advance(parent_id, step, checkpoint.last, claimant=child.task_id)
