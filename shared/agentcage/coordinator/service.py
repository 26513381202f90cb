"""The coordinator: the agent loop as a library service; the same code in Azure Functions, locally, in tests.

Every collaborator is injected (the ledger, the governance gate, the model, the approval notifier, the
target resolver); nothing here reads the environment or opens a connection. Each public method is one
unit of work triggered by one message or request, and returns an :class:`Outbox` of messages for its
caller to send::

    start_task      POST /api/tasks            -> the task (for its requester), and AgentStep(1)
    run_step        agent-steps                -> ToolRequests, or the next AgentStep, or nothing (done)
    record_result   tool-results               -> the next AgentStep once the step is complete
    decide_approval POST /api/approvals/{id}   -> the approved ToolRequest, or the next AgentStep
    fail_task       agent-steps, last delivery -> the task ends failed with the reason
    vouches_for_*   a message's last delivery  -> whether the ledger says it is the coordinator's own
    expire_overdue_approvals  a timer          -> the next steps of tasks whose approvals expired
    task_view / approval_view                  -> what the GET routes show
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import ValidationError

from agentcage.budget.config import BudgetConfig, LimitValues
from agentcage.budget.limits import BudgetLimits
from agentcage.coordinator.access import AccessRules, TaskAccess
from agentcage.coordinator.expiry import ExpiryMixin
from agentcage.coordinator.external import ExternalCalls
from agentcage.coordinator.messages import Started, StartTask
from agentcage.coordinator.views import ViewMixin
from agentcage.coordinator.vouching import VouchMixin
from agentcage.errors import InvalidInputError
from agentcage.ledger.models import Requester, TaskRecord
from agentcage.tools.agents import AgentDefinition
from agentcage.trace import continue_or_start

__all__ = ["Coordinator"]


class Coordinator(VouchMixin, ExpiryMixin, ViewMixin):
    """Runs tasks: model steps, the governance gate on every call, approvals, results, budgets.

    ``Coordinator(*, ledger, gate, model, settings=None, notifier=None, targets=None, metrics=None,
    access=None)``; ``access`` (:class:`AccessRules`) says who may read which task (``self.access``).
    """

    def __init__(self, *, access: AccessRules | None = None, **collaborators: Any) -> None:
        super().__init__(**collaborators)
        self.access = TaskAccess(self.ledger, access)

    def start_task(
        self,
        request: StartTask | dict[str, Any],
        *,
        traceparent: str | None = None,
        tracestate: str | None = None,
        requester: Requester | None = None,
    ) -> Started:
        """Create a pending task for the agent (the default one when none is named) and its first step,
        on behalf of ``requester`` (the authenticated principal: :func:`requester_of`).

        The caller's ``traceparent`` is continued when valid. An unknown agent is
        :class:`UnknownAgentError` (404); an invalid body (a reserved ``parent_*`` context key among
        others) and budget overrides above the configured ceiling are :class:`InvalidInputError` (400).
        """
        start = request if isinstance(request, StartTask) else _start_task(request)
        if len(start.request) > self.settings.max_request_chars:
            raise InvalidInputError(
                f"the request is longer than {self.settings.max_request_chars} characters"
            )
        agent = self.gate.agent(start.agent or self.settings.default_agent)
        trace = continue_or_start(traceparent, tracestate)
        task = self.ledger.create_task(
            agent_id=agent.id,
            environment=self.settings.environment,
            request=start.request,
            limits=self._limits(agent, start),
            context=dict(start.context),
            traceparent=trace.traceparent,
            requester=requester,
        )
        self._audit(
            task,
            "task_created",
            {
                "agent": agent.id,
                "limits": task.limits.model_dump(mode="json"),
                "trace_id": trace.trace_id,
                "requester": requester.model_dump(mode="json") if requester is not None else None,
            },
        )
        return Started(task=task, step=self.agent_step(task, 1))

    def _limits(self, agent: AgentDefinition, start: StartTask) -> BudgetLimits:
        """The agent's default limits (never above the ceiling), then the task's overrides, checked."""
        ceiling = self.settings.budget.ceiling
        own = agent.budget
        defaults = LimitValues(
            tokens=min(own.max_tokens, ceiling.tokens),
            cost_micro_usd=min(own.max_cost_micro_usd, ceiling.cost_micro_usd),
            model_steps=min(own.max_model_steps, ceiling.model_steps),
            tool_calls=min(own.max_tool_calls, ceiling.tool_calls),
            deadline_seconds=min(own.deadline_seconds, ceiling.deadline_seconds),
        )
        config: BudgetConfig = self.settings.budget.model_copy(update={"defaults": defaults})
        return config.limits_for(start.budget, self.ledger.now())

    def task(self, task_id: str) -> TaskRecord:
        """The task record (TaskNotFoundError, 404, when there is none)."""
        return self.ledger.get_task(task_id)

    @functools.cached_property
    def external(self) -> ExternalCalls:
        """Tasks an external agent drives (the MCP gateway): its calls, through this same lifecycle."""
        return ExternalCalls(self)


def _start_task(body: dict[str, Any]) -> StartTask:
    """The body as a :class:`StartTask`; :class:`InvalidInputError` (not pydantic's error) when invalid."""
    try:
        return StartTask.model_validate(body)
    except ValidationError as error:
        problems = [
            {"loc": ".".join(str(p) for p in e["loc"]) or "$", "msg": e["msg"]}
            for e in error.errors(include_url=False, include_input=False)
        ]
        raise InvalidInputError("invalid StartTask body", details={"problems": problems}) from None
