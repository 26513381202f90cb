"""One model step: budget, model call, thought record, the gate on every proposed call, checkpoint.

Order matters for redelivery. The model call is reserved before and settled after (released when it
fails, so a timed-out call counts nothing and its redelivery counts once). Reservations and approvals
are made before the checkpoint because the checkpoint stores the exact ``ToolRequest`` s; the
checkpoint is saved put-if-absent BEFORE anything is returned to send, and a redelivered step whose
checkpoint exists re-emits those same requests (same ids, same reservations) without calling the
model or reserving again. Only a crash between the model's settlement and the checkpoint write can
make a redelivery call the model again (the spend was real both times, so both are counted).

Every step first returns the task's reservations abandoned past their expiry (``expire_stale`` for
this task only: an active one is released, a consumed tool call is charged), so a crashed earlier
attempt's hold on the budget does not count against the step's budget check.
"""

from __future__ import annotations

import logging
from typing import Any

from agentcage.coordinator.core import Stop
from agentcage.coordinator.delegation import DELEGATE_TOOL, DelegationMixin
from agentcage.coordinator.messages import Outbox
from agentcage.coordinator.state import (
    PlannedCall,
    StepCheckpoint,
    Turn,
    build_conversation,
    error_content,
    prompt_digest,
    result_slot,
)
from agentcage.envelopes import AgentStep, ToolRequest, args_digest, new_id
from agentcage.errors import (
    AgentcageError,
    BudgetExceededError,
    LoopDetectedError,
    ModelError,
    OverspendError,
    TaskNotFoundError,
)
from agentcage.ledger.models import TaskRecord, TaskState
from agentcage.models.types import Completion, Message, ToolCall
from agentcage.telemetry import agent_span, chat_span, record_usage, tool_span
from agentcage.tools.agents import AgentDefinition
from agentcage.trace import bound_context

__all__ = ["StepMixin"]

_log = logging.getLogger("agentcage.coordinator")
_DENIED_CODES = frozenset({"policy_denied", "tool_not_allowed", "unknown_tool", "sensitive_data_blocked"})


class StepMixin(DelegationMixin):
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
            return outbox.extend(self._report_to_parent(task.task_id))

    def _ignore(self, task: TaskRecord, step: AgentStep, why: str) -> Outbox:
        self._audit(task, "step_ignored", {"step": step.step, "reason": why}, step=step.step)
        return Outbox()

    def _run_step(self, task: TaskRecord, step: AgentStep) -> Outbox:
        if task.state.is_final:
            return self._ignore(task, step, f"task is {task.state.value}")
        if self.ledger.expire_stale(task_id=task.task_id):  # a crashed attempt's reservations come back
            task = self.ledger.get_task(task.task_id)
        last, checkpoint = self._checkpoint(task.task_id)
        if step.step == last:  # redelivered after its checkpoint (its sends failed?): re-emit, never redo
            return self._after_checkpoint(task, step.step, checkpoint, fresh=False)
        if task.state is TaskState.AWAITING_APPROVAL:
            return self._ignore(task, step, f"task is {task.state.value}")
        refusal = self._refusal(task, step, last, checkpoint)
        if refusal is not None:
            return self._ignore(task, step, refusal)
        if self._out_of_budget(task):
            return Outbox()
        return self._think(task, step, checkpoint)

    def _think(self, task: TaskRecord, step: AgentStep, checkpoint: StepCheckpoint) -> Outbox:
        """Call the model, decide each proposed call, save the checkpoint, then say what to send."""
        if task.state is TaskState.PENDING:
            self._move(task.task_id, TaskState.RUNNING, expected=TaskState.PENDING)
        agent = self.gate.agent(task.agent_id)
        messages = build_conversation(
            agent.system_prompt, task.request, checkpoint.turns, self._results(task.task_id)
        )
        completion = self._call_model(task, step, agent, messages)
        if completion is None:
            return Outbox()
        turn, reserved = self._plan(task, step, agent, completion)
        stopped = None if reserved is not None else "halted while deciding the calls"
        data = StepCheckpoint(turns=(*checkpoint.turns, turn), stopped=stopped).model_dump(mode="json")
        if not self.ledger.save_checkpoint(task.task_id, step.step, data):
            # A concurrent copy of this step saved first: give back what this copy reserved.
            for reservation_id in reserved or []:
                self.ledger.release(reservation_id)
            _, saved = self._checkpoint(task.task_id)
            return self._after_checkpoint(task, step.step, saved, fresh=False)
        if reserved is None:
            return Outbox()  # halted while deciding; its reservations were already given back
        return self._after_checkpoint(task, step.step, StepCheckpoint.of(data), fresh=True)

    def _refusal(
        self, task: TaskRecord, step: AgentStep, last: int, checkpoint: StepCheckpoint
    ) -> str | None:
        """Why this step may not run now (``None`` when it may)."""
        if step.step != last + 1:
            return f"stale or out of order (last checkpoint {last})"
        previous = checkpoint.last
        if previous is None:
            return None
        results = self._results(task.task_id)
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

    # --- the model call ---------------------------------------------------------------------------
    def _tools(self, agent: AgentDefinition) -> list[dict[str, Any]]:
        tools = [tool.openai_schema() for tool in self.gate.toolset(agent.id)]
        if agent.specialists:
            tools.append(self.delegate_schema(agent))
        return tools

    def _call_model(
        self, task: TaskRecord, step: AgentStep, agent: AgentDefinition, messages: list[Message]
    ) -> Completion | None:
        tools = self._tools(agent)
        request = {"messages": [m.model_dump(mode="json") for m in messages], "tools": tools}
        try:
            with self.guard.model_call(
                task.task_id,
                model=self.model.model,
                request=request,
                requested_max_tokens=self.settings.max_output_tokens,
            ) as call:
                with chat_span(
                    step.trace,
                    task_id=task.task_id,
                    model=self.model.model,
                    provider=self.model.provider,
                    max_tokens=call.max_tokens,
                ) as span:
                    completion = self.model.complete(
                        messages,
                        tools,
                        call.max_tokens,
                        timeout=self.settings.model_timeout_s,
                        deadline=task.limits.deadline,
                        context=task.context,
                    )
                    record_usage(
                        span,
                        input_tokens=completion.usage.input_tokens,
                        output_tokens=completion.usage.output_tokens,
                        response_model=completion.model,
                    )
                try:
                    call.settle(completion.usage.input_tokens, completion.usage.output_tokens)
                except OverspendError:  # recorded in full and audited by the ledger; the answer stands
                    call.settled = self.ledger.get_reservation(call.reservation.reservation_id)
        except BudgetExceededError:
            return None  # the guard halted the task with the reason
        except ModelError as error:
            self._audit(task, "model_error", {"code": error.code, "message": error.message}, step=step.step)
            raise  # released by the guard; the message is redelivered and the step resumes
        self._audit(
            task,
            "thought",
            {
                "model": completion.model,
                "provider": completion.provider,
                "scripted": completion.scripted,
                "prompt_digest": prompt_digest(messages),
                "text": (completion.text or "")[:2000],
                "calls": [
                    {"id": c.id, "tool": c.name, "arguments": c.arguments} for c in completion.tool_calls
                ],
                "usage": completion.usage.model_dump(),
                "finish_reason": completion.finish_reason,
                "attempts": completion.attempts,
                "max_tokens": call.max_tokens,
                "trace_id": step.trace.trace_id,
            },
            step=step.step,
        )
        return completion

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
                self._audit(task, "decision", _decision_event(decided), step=step.step)
        except Stop:
            for reservation_id in reserved:
                self.ledger.release(reservation_id)
            return Turn(step=step.step, text=completion.text, calls=tuple(planned)), None
        final = not completion.tool_calls
        return Turn(step=step.step, text=completion.text, calls=tuple(planned), final=final), reserved

    def _decide(
        self, task: TaskRecord, step: AgentStep, agent: AgentDefinition, call: ToolCall
    ) -> PlannedCall:
        base: dict[str, Any] = {
            "call_id": call.id,
            "tool": call.name,
            "args": call.arguments,
            "request_id": new_id("req"),
        }
        if call.invalid_arguments:
            content = error_content(
                "invalid_arguments", f"arguments are not a JSON object: {call.invalid_arguments}"
            )
            return self._refuse(
                task, PlannedCall(**base, outcome="local", local_result=_local("error", call, content))
            )
        try:
            digest = args_digest(call.arguments)
        except AgentcageError as error:
            content = error_content("invalid_arguments", error.message)
            return self._refuse(
                task, PlannedCall(**base, outcome="local", local_result=_local("error", call, content))
            )
        base["args_digest"] = digest
        try:
            self.guard.loops.check(self.ledger, task.task_id, call.name, digest)
        except LoopDetectedError as error:
            self.guard.trip(task.task_id, error)
            raise Stop from error
        if call.name == DELEGATE_TOOL and agent.specialists:
            try:
                return self.plan_delegation(task, agent, PlannedCall(**base, outcome="delegated"))
            except BudgetExceededError as error:
                self.guard.trip(task.task_id, error)
                raise Stop from error
        tool = self.gate.catalog.get(call.name)
        tags = None
        if tool is not None and tool.target is not None and agent.may_call(call.name):
            tags = self.targets.resolve(tool.target, call.arguments)
        decision = self.gate.evaluate(
            agent.id,
            call.name,
            call.arguments,
            environment=task.environment,
            target_tags=tags,
            budget=self._policy_budget(task.task_id),
        )
        summary = decision.to_dict()
        base["decision"] = {
            k: summary[k] for k in ("decision", "policies", "reasons", "obligations", "error")
        }
        if decision.needs_approval:
            approval = self.ledger.create_approval(
                task.task_id,
                step=step.step,
                agent_id=agent.id,
                tool=call.name,
                args=call.arguments,
                args_digest=digest,
                reasons=decision.reasons,
                policies=decision.policies,
                ttl_seconds=self.settings.approval_ttl_seconds,
            )
            return PlannedCall(**base, outcome="approval", approval_id=approval.approval_id)
        if not decision.allowed:
            refusal = decision.error
            code, message = (
                (refusal.code, refusal.message) if refusal else ("policy_denied", "denied by policy")
            )
            extra = {"problems": list(refusal.problems)} if refusal and refusal.problems else {}
            status = "denied" if code in _DENIED_CODES else "error"
            content = error_content(code, message, **extra)
            return self._refuse(
                task, PlannedCall(**base, outcome="local", local_result=_local(status, call, content))
            )
        return self._dispatch(
            task, step.step, PlannedCall(**base, outcome="dispatched"), step.trace.child().traceparent
        )

    def _refuse(self, task: TaskRecord, planned: PlannedCall) -> PlannedCall:
        try:
            self._count_local_call(task, planned)
        except BudgetExceededError as error:
            self.guard.trip(task.task_id, error)
            raise Stop from error
        return planned

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
        approvals = [c for c in turn.calls if c.outcome == "approval" and c.approval_id]
        if approvals and any(a.status == "pending" for a in self.ledger.pending_approvals(task.task_id)):
            self._move(task.task_id, TaskState.AWAITING_APPROVAL, expected=TaskState.RUNNING)
            if fresh:
                for call in approvals:
                    self._notify(task, str(call.approval_id))
        outbox.extend(self.start_children(task, turn, fresh=fresh))
        return outbox.extend(self._maybe_advance(task.task_id, step, turn, claimant=f"step-{step}"))


def _local(status: str, call: ToolCall, content: dict[str, Any]) -> dict[str, Any]:
    return result_slot(status, content, tool=call.name, source="coordinator")


def _decision_event(call: PlannedCall) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "tool": call.tool,
        "args_digest": call.args_digest,
        "outcome": call.outcome,
        "decision": call.decision,
        "request_id": call.request_id,
        "approval_id": call.approval_id,
        "local_result": call.local_result,
        "child_task_id": call.child_task_id,
    }
