"""One model step: budget, model call, thought record, the gate on every proposed call, checkpoint.

Order matters for redelivery. Each model attempt is reserved before and settled after; a failed one
is charged its upper bound (it may have been billed) unless the provider certainly did not process it
(a 429), and the coordinator, not the provider, retries, so every attempt is counted. Reservations
and approvals are made before the checkpoint because the checkpoint stores the exact ``ToolRequest`` s; the
checkpoint is saved put-if-absent BEFORE anything is returned to send, and a redelivered step whose
checkpoint exists re-emits those same requests (same ids, same reservations) without calling the
model or reserving again. Only a crash between the model's settlement and the checkpoint write can
make a redelivery call the model again (the spend was real both times, so both are counted).
Approvals are waited for, and notified, from the checkpointed turn alone: one made by a copy that
crashed or lost the checkpoint race is denied as superseded, and a redelivery notifies each approval
of the turn that has no ``NOTIFIED`` claim yet (the first attempt may have died first; the claim is
written after the notice, so a notice is sent at least once, never read back from the audit log).

Every step first returns the task's reservations abandoned past their expiry (``expire_stale`` for
this task only: an active one is released, a consumed tool call is charged), so a crashed earlier
attempt's hold on the budget does not count against the step's budget check.
"""

from __future__ import annotations

import logging
from typing import Any

from agentcage.coordinator.core import Stop
from agentcage.coordinator.delegation import DELEGATE_TOOL
from agentcage.coordinator.messages import Outbox
from agentcage.coordinator.model_call import ModelCallMixin
from agentcage.coordinator.state import PlannedCall, StepCheckpoint, Turn, build_conversation
from agentcage.envelopes import AgentStep, ToolRequest
from agentcage.errors import BudgetExceededError, TaskNotFoundError
from agentcage.ledger.models import TaskRecord, TaskState
from agentcage.models.types import Completion, ToolCall
from agentcage.telemetry import agent_span, tool_span
from agentcage.tools.agents import AgentDefinition
from agentcage.trace import bound_context

__all__ = ["StepMixin"]

_log = logging.getLogger("agentcage.coordinator")


class StepMixin(ModelCallMixin):
    """``run_step`` and what it needs."""

    def run_step(self, step: AgentStep) -> Outbox:
        """Run model step ``step.step`` of its task and return the messages to send (see the module doc)."""
        try:
            task = self.ledger.get_task(step.task_id)
        except TaskNotFoundError:
            _log.warning("agent step for unknown task %s dropped", step.task_id)
            return Outbox()
        with bound_context(trace=step.trace, task_id=task.task_id, step=step.step, agent_id=task.agent_id):
            with agent_span(step.trace, task_id=task.task_id, agent_id=task.agent_id, step=step.step):
                outbox = self._run_step(task, step)
            return outbox.extend(self._report_to_parent(task.task_id, known=task))

    def _ignore(self, task: TaskRecord, step: AgentStep, why: str) -> Outbox:
        self._audit(task, "step_ignored", {"step": step.step, "reason": why}, step=step.step)
        return Outbox()

    def _run_step(self, task: TaskRecord, step: AgentStep) -> Outbox:
        if task.state.is_final or task.driver == "external":  # an external task never calls a model
            why = f"task is {task.state.value}" if task.state.is_final else "an external agent drives it"
            return self._ignore(task, step, why)
        if self.ledger.expire_stale(task_id=task.task_id):  # a crashed attempt's reservations come back
            task = self.ledger.get_task(task.task_id)
        last, checkpoint = self._checkpoint(task.task_id)
        if step.step == last:  # redelivered after its checkpoint (its sends failed?): re-emit, never redo
            return self._after_checkpoint(task, step.step, checkpoint, fresh=False)
        if task.state is TaskState.AWAITING_APPROVAL:
            return self._ignore(task, step, f"task is {task.state.value}")
        results = self._results(task.task_id) if checkpoint.turns else {}  # read once for both
        refusal = self._refusal(step, last, checkpoint, results)
        if refusal is not None:
            return self._ignore(task, step, refusal)
        if self._out_of_budget(task):
            return Outbox()
        return self._think(task, step, checkpoint, results)

    def _think(
        self,
        task: TaskRecord,
        step: AgentStep,
        checkpoint: StepCheckpoint,
        results: dict[str, dict[str, Any]],
    ) -> Outbox:
        """Call the model, decide each proposed call, save the checkpoint, then say what to send."""
        if task.state is TaskState.PENDING:
            self._move(task.task_id, TaskState.RUNNING, expected=TaskState.PENDING)
        agent = self.gate.agent(task.agent_id)
        messages = build_conversation(agent.system_prompt, task.request, checkpoint.turns, results)
        completion = self._call_model(task, step, agent, messages)
        if completion is None:
            return Outbox()
        turn, reserved = self._plan(task, step, agent, completion)
        stopped = None if reserved is not None else "halted while deciding the calls"
        data = StepCheckpoint(turns=(*checkpoint.turns, turn), stopped=stopped).model_dump(mode="json")
        if not self.ledger.save_checkpoint(task.task_id, step.step, data):
            # A concurrent copy of this step saved first: give back what this copy reserved, deny
            # its approvals and end its children (no checkpointed call will ever wait for them).
            for reservation_id in reserved or []:
                self.ledger.release(reservation_id)
            self._abandon(task, turn, f"a concurrent copy of step {step.step} was checkpointed first")
            _, saved = self._checkpoint(task.task_id)
            return self._after_checkpoint(task, step.step, saved, fresh=False)
        if reserved is None:  # halted while deciding; its reservations were already given back
            self._abandon(task, turn, "the task halted while its calls were being decided")
            return Outbox()
        return self._after_checkpoint(task, step.step, StepCheckpoint.of(data), fresh=True)

    def _abandon(self, task: TaskRecord, turn: Turn, reason: str) -> None:
        """Deny the approvals and fail the children a turn created that nothing will carry out."""
        self._supersede_approvals(task, [c.approval_id for c in turn.calls if c.approval_id], reason)
        for call in turn.calls:
            if call.child_task_id:
                self._move(call.child_task_id, TaskState.FAILED, expected=TaskState.PENDING, reason=reason)

    @staticmethod
    def _refusal(
        step: AgentStep, last: int, checkpoint: StepCheckpoint, results: dict[str, dict[str, Any]]
    ) -> str | None:
        """Why this step may not run now (``None`` when it may)."""
        if step.step != last + 1:
            return f"stale or out of order (last checkpoint {last})"
        previous = checkpoint.last
        if previous is None:
            return None
        if previous.final or checkpoint.stopped or any(c.request_id not in results for c in previous.calls):
            return f"step {last} is not complete"
        return None

    def _out_of_budget(self, task: TaskRecord) -> bool:
        """Halt the task (with the reason) when its deadline passed or its model steps are used up."""
        if self.ledger.now() >= task.limits.deadline:
            reason = f"task {task.task_id} passed its deadline {task.limits.deadline.isoformat()}"
            self._halt_for(task.task_id, BudgetExceededError(reason, details={"limit": "deadline"}))
            return True
        if task.used.model_steps >= task.limits.model_steps:
            reason = f"task {task.task_id} used all {task.limits.model_steps} model steps"
            self._halt_for(task.task_id, BudgetExceededError(reason, details={"limit": "model_steps"}))
            return True
        return False

    # --- deciding each call -----------------------------------------------------------------------
    def _plan(
        self, task: TaskRecord, step: AgentStep, agent: AgentDefinition, completion: Completion
    ) -> tuple[Turn, list[str] | None]:
        """The turn to checkpoint and the tool reservations made (``None``: the task halted meanwhile)."""
        planned: list[PlannedCall] = []
        reserved: list[str] = []
        try:
            for call in completion.tool_calls:
                with tool_span(step.trace, task_id=task.task_id, tool=call.name, call_id=call.id):
                    decided = self._decide(task, step, agent, call)
                planned.append(decided)
                if decided.request is not None:
                    reserved.append(str(decided.request["reservation_id"]))
                self._audit(task, "decision", decided.decision_event(), step=step.step)
        except Stop:
            for reservation_id in reserved:
                self.ledger.release(reservation_id)
            return Turn(step=step.step, text=completion.text, calls=tuple(planned)), None
        final = not completion.tool_calls
        return Turn(step=step.step, text=completion.text, calls=tuple(planned), final=final), reserved

    def _decide(
        self, task: TaskRecord, step: AgentStep, agent: AgentDefinition, call: ToolCall
    ) -> PlannedCall:
        """The gate's decision on one proposed call (:class:`CallPlanner`, as for every front door)."""
        delegate = self.plan_delegation if call.name == DELEGATE_TOOL and agent.specialists else None
        return self.planner.decide(task, step.step, step.trace, agent, call, delegate=delegate)

    # --- after the checkpoint ---------------------------------------------------------------------
    def _after_checkpoint(
        self, task: TaskRecord, step: int, checkpoint: StepCheckpoint, *, fresh: bool
    ) -> Outbox:
        turn = checkpoint.last
        if turn is None or checkpoint.stopped:
            return Outbox()
        for call in turn.calls:
            if call.outcome == "local" and call.local_result is not None:
                self._record(task.task_id, call.request_id, call.local_result)
        if turn.final:
            self._move(task.task_id, TaskState.COMPLETED, final_answer=turn.text or "")
            return Outbox()
        outbox = Outbox(
            tool_requests=[ToolRequest.model_validate(c.request) for c in turn.calls if c.request]
        )
        pending = self.ledger.pending_approvals(task.task_id)
        pending = self._supersede_strays(task, step, turn, pending)  # of a crashed or losing copy
        waiting = self._waiting_approvals(task.task_id, turn, pending)
        if waiting:
            self._move(task.task_id, TaskState.AWAITING_APPROVAL, expected=TaskState.RUNNING)
            # A redelivery (the first attempt may have died before notifying) notifies what was not.
            notified = set() if fresh else self._notified(task.task_id)
            for approval in waiting:
                if approval.approval_id not in notified:
                    self._notify(task, approval.approval_id)
                    self._mark_notified(task, approval.approval_id, claimant=f"step-{step}")
        outbox.extend(self.start_children(task, turn, fresh=fresh))
        if fresh and any(c.outcome != "local" for c in turn.calls):
            # A call just dispatched, waiting for a person or delegated cannot have its result yet
            # (nothing is sent before this returns): the step advances when the last result comes.
            return outbox
        return outbox.extend(self._maybe_advance(task.task_id, step, turn, claimant=f"step-{step}"))
