"""The model's turn in a step: one provider attempt at a time, each inside its own budget reservation.

The retries happen here and not inside the provider (which is asked for one attempt per call): a
failed attempt may have been billed, so the budget guard charges it its upper bound (or releases it
when the provider certainly did not process it, a 429 on its one attempt), and the next attempt must
fit what is left, so repeated timeouts use up the budget and halt the task instead of spending without
a limit. The loop is the models package's one retry loop (:meth:`ModelProvider.with_retries`), with
the provider's ``RetryPolicy`` for the attempts and the backoff, which never reaches past the task's
deadline; the last error is raised and the queue redelivers the step.
"""

from __future__ import annotations

from typing import Any

from agentcage.budget import ModelCall
from agentcage.coordinator.delegation import DelegationMixin
from agentcage.coordinator.state import prompt_digest
from agentcage.envelopes import AgentStep
from agentcage.errors import BudgetExceededError, ModelError, OverspendError
from agentcage.ledger.models import TaskRecord
from agentcage.models.base import RetryPolicy
from agentcage.models.types import Completion, Message
from agentcage.telemetry import chat_span, record_usage
from agentcage.tools.agents import AgentDefinition

__all__ = ["ModelCallMixin"]

_ONE_ATTEMPT = RetryPolicy(max_attempts=1)


class ModelCallMixin(DelegationMixin):
    """``_call_model``: the tools offered, the attempts, the thought record."""

    def _tools(self, agent: AgentDefinition) -> list[dict[str, Any]]:
        tools = [tool.openai_schema() for tool in self.gate.toolset(agent.id)]
        if agent.specialists:
            tools.append(self.delegate_schema(agent))
        return tools

    def _call_model(
        self, task: TaskRecord, step: AgentStep, agent: AgentDefinition, messages: list[Message]
    ) -> Completion | None:
        """The model's turn, or ``None`` when the budget halted the task.

        The retries happen here, one provider attempt at a time, each inside its own budget
        reservation: a failed attempt may have been billed, so the guard charges it its upper bound
        (or releases it when the provider certainly did not process it, a 429), and the next attempt
        must fit what is left. The provider's one retry loop sets the attempts and the backoff, which
        stop before the task's deadline; the last error is raised, and the queue redelivers the step.
        """
        tools = self._tools(agent)
        request = {"messages": [m.model_dump(mode="json") for m in messages], "tools": tools}

        def failed(error: ModelError, attempt: int, delay: float | None) -> None:
            data = {"code": error.code, "message": error.message, "attempt": attempt, "retry_in_s": delay}
            self._audit(task, "model_error", data, step=step.step)

        try:
            (completion, call), attempt = self.model.with_retries(
                lambda _: self._model_attempt(task, step, messages, tools, request),
                deadline=task.limits.deadline,
                on_failure=failed,
            )
        except BudgetExceededError:
            return None  # the guard halted the task with the reason
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
                "attempts": attempt,
                "max_tokens": call.max_tokens,
                "trace_id": step.trace.trace_id,
                # a model without a price of its own was bounded and charged at the configured ceiling
                **({"priced_at": "price_ceiling"} if call.priced_at_ceiling else {}),
            },
            step=step.step,
        )
        return completion

    def _model_attempt(
        self,
        task: TaskRecord,
        step: AgentStep,
        messages: list[Message],
        tools: list[dict[str, Any]],
        request: dict[str, Any],
    ) -> tuple[Completion, ModelCall]:
        """One provider attempt under its own reservation: settled, charged or released by the guard."""
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
                    retry=_ONE_ATTEMPT,
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
        return completion, call
