"""Deciding one proposed tool call: the same admission for every front door.

:class:`CallPlanner` turns one proposal (a tool and its arguments, from the coordinator's model or from
an MCP client) into a :class:`PlannedCall`: arguments that are a JSON object, their digest, the loop
check, delegation to a specialist (the coordinator's own loop only), the governance gate (toolset,
schema, inspection, Cedar policy with the target's tags and the budget state), then an approval, a
local refusal (counted as a tool call: probing is not free), or a dispatch (circuit, reservation,
``ToolRequest``). The model loop (:mod:`agentcage.coordinator.steps`) and the external driver
(:mod:`agentcage.coordinator.external`) both call it; neither decides a call any other way.

A decision that halts the task (a loop, an exhausted budget, a circuit the task was already told
about) raises :class:`~agentcage.coordinator.core.Stop` after the task was halted with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentcage.coordinator.core import Stop
from agentcage.coordinator.state import PlannedCall, error_content, result_slot
from agentcage.envelopes import args_digest, new_id
from agentcage.errors import AgentcageError, BudgetExceededError, LoopDetectedError
from agentcage.ledger.models import TaskRecord
from agentcage.models.types import ToolCall
from agentcage.monitoring_names import EVENT_TOOL_DENIED, LOG_CODE, LOG_EVENT, LOG_TOOL
from agentcage.tools.agents import AgentDefinition
from agentcage.trace import TraceContext

if TYPE_CHECKING:
    from agentcage.coordinator.core import CoordinatorCore

__all__ = ["CallPlanner", "Delegate"]

_log = logging.getLogger("agentcage.coordinator")
_DENIED_CODES = frozenset({"policy_denied", "tool_not_allowed", "unknown_tool", "sensitive_data_blocked"})

Delegate = Callable[[TaskRecord, AgentDefinition, PlannedCall], PlannedCall]
"""Plans a ``delegate`` call to a specialist (the coordinator's :meth:`plan_delegation`)."""


class CallPlanner:
    """Decides proposed calls for the coordinator ``core`` (its ledger, gate, guard, targets)."""

    def __init__(self, core: CoordinatorCore) -> None:
        self.core = core

    def decide(
        self,
        task: TaskRecord,
        step: int,
        trace: TraceContext,
        agent: AgentDefinition,
        call: ToolCall,
        *,
        delegate: Delegate | None = None,
    ) -> PlannedCall:
        """The planned call for ``call`` proposed at ``step`` (``Stop`` when the task halted)."""
        core = self.core
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
            return self.refuse(
                task, PlannedCall(**base, outcome="local", local_result=_local("error", call, content))
            )
        try:
            digest = args_digest(call.arguments)
        except AgentcageError as error:
            content = error_content("invalid_arguments", error.message)
            return self.refuse(
                task, PlannedCall(**base, outcome="local", local_result=_local("error", call, content))
            )
        base["args_digest"] = digest
        try:
            core.guard.loops.check(core.ledger, task.task_id, call.name, digest)
        except LoopDetectedError as error:
            core.guard.trip(task.task_id, error)
            raise Stop from error
        if delegate is not None:
            try:
                return delegate(task, agent, PlannedCall(**base, outcome="delegated"))
            except BudgetExceededError as error:
                core.guard.trip(task.task_id, error)
                raise Stop from error
        tool = core.gate.catalog.get(call.name)
        tags = None
        if tool is not None and tool.target is not None and agent.may_call(call.name):
            tags = core.targets.resolve(tool.target, call.arguments)
        decision = core.gate.evaluate(
            agent.id,
            call.name,
            call.arguments,
            environment=task.environment,
            target_tags=tags,
            budget=core._policy_budget(task.task_id),
            requester=task.requester,
        )
        summary = decision.to_dict()
        base["decision"] = {
            k: summary[k] for k in ("decision", "policies", "reasons", "obligations", "error")
        }
        if decision.needs_approval:
            approval = core.ledger.create_approval(
                task.task_id,
                step=step,
                agent_id=agent.id,
                tool=call.name,
                args=call.arguments,
                args_digest=digest,
                reasons=decision.reasons,
                policies=decision.policies,
                ttl_seconds=core.settings.approval_ttl_seconds,
                # the version of the policies that asked for it (the executor checks its own gate's)
                policy_version=core.gate.policy.version,
            )
            return PlannedCall(**base, outcome="approval", approval_id=approval.approval_id)
        if not decision.allowed:
            refusal = decision.error
            code, message = (
                (refusal.code, refusal.message) if refusal else ("policy_denied", "denied by policy")
            )
            extra = {"problems": list(refusal.problems)} if refusal and refusal.problems else {}
            status = "denied" if code in _DENIED_CODES else "error"
            # What the denial searches count (agentcage.monitoring_names): one line per refused call.
            denial = {LOG_EVENT: EVENT_TOOL_DENIED, LOG_CODE: code, LOG_TOOL: call.name}
            _log.info("tool call %s refused: %s", call.name, message, extra=denial)
            content = error_content(code, message, **extra)
            return self.refuse(
                task, PlannedCall(**base, outcome="local", local_result=_local(status, call, content))
            )
        return core._dispatch(
            task, step, PlannedCall(**base, outcome="dispatched"), trace.child().traceparent
        )

    def refuse(self, task: TaskRecord, planned: PlannedCall) -> PlannedCall:
        """Count a call answered without the executor as one tool call (``Stop`` when none is left)."""
        try:
            self.core._count_local_call(task, planned)
        except BudgetExceededError as error:
            self.core.guard.trip(task.task_id, error)
            raise Stop from error
        return planned


def _local(status: str, call: ToolCall, content: dict[str, Any]) -> dict[str, Any]:
    return result_slot(status, content, tool=call.name, source="coordinator")
