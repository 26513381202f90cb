"""What ``GET /api/tasks/{id}`` and ``GET /api/approvals/{id}`` show: plain JSON built from the ledger.

Both name the task's requester (who it runs for, with their roles), so a person deciding sees on
whose behalf the agent asks. Who may see them at all is :mod:`agentcage.coordinator.access`'s rule.
"""

from __future__ import annotations

from typing import Any

from agentcage.coordinator.core import CoordinatorCore
from agentcage.coordinator.state import PlannedCall
from agentcage.ledger.models import ApprovalRecord, Requester, TaskRecord

__all__ = ["ViewMixin", "requester_view", "task_summary"]

_MAX_CONTENT_CHARS = 4000


def requester_view(requester: Requester | None) -> dict[str, Any] | None:
    """The requester as the views show it (``None`` for a task that records none)."""
    return requester.model_dump(mode="json") if requester is not None else None


def task_summary(task: TaskRecord) -> dict[str, Any]:
    """One line of a task listing: what it is, for whom, and where it stands."""
    return {
        "task_id": task.task_id,
        "agent": task.agent_id,
        "state": task.state.value,
        "requester": requester_view(task.requester),
        "created_at": task.created_at.isoformat(),
        "updated_at": task.updated_at.isoformat(),
        "budget": {"limits": task.limits.model_dump(mode="json"), "used": task.used.model_dump()},
    }


def _short(value: Any) -> Any:
    """A result's content, cut when large (the view is for people; the ledger keeps it whole)."""
    text = value if isinstance(value, str) else None
    if text is not None and len(text) > _MAX_CONTENT_CHARS:
        return text[:_MAX_CONTENT_CHARS] + "…"
    return value


class ViewMixin(CoordinatorCore):
    """``task_view`` and ``approval_view``."""

    def approval_url(self, approval_id: str) -> str:
        """Where a person decides an approval."""
        return f"{self.settings.public_base_url}/api/approvals/{approval_id}"

    def approval_view(self, approval_id: str) -> dict[str, Any]:
        """What is being approved: tool, arguments, why it needs a person, and where it stands."""
        approval = self.ledger.get_approval(approval_id)
        task = self.ledger.get_task(approval.task_id)
        return {
            **self._approval(approval),
            "request": task.request,
            "task_state": task.state.value,
            "requester": requester_view(task.requester),
        }

    def _approval(self, approval: ApprovalRecord) -> dict[str, Any]:
        return {
            "approval_id": approval.approval_id,
            "task_id": approval.task_id,
            "step": approval.step,
            "agent": approval.agent_id,
            "tool": approval.tool,
            "arguments": approval.args,
            "args_digest": approval.args_digest,
            "risk_reasons": list(approval.reasons),
            "policies": list(approval.policies),
            "status": approval.status.value,
            "approver": approval.approver,
            "approver_roles": list(approval.approver_roles),
            "comment": approval.comment,
            "created_at": approval.created_at.isoformat(),
            "expires_at": approval.expires_at.isoformat(),
            "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
            "url": self.approval_url(approval.approval_id),
        }

    def task_view(self, task_id: str) -> dict[str, Any]:
        """State, budget used and left, each step with its calls and decisions, pending approvals, outcome."""
        task = self.ledger.get_task(task_id)
        budget = self.ledger.budget_state(task_id)
        _, checkpoint = self._checkpoint(task_id)
        results = self._results(task_id)
        steps = [
            {
                "step": turn.step,
                "text": turn.text,
                "final": turn.final,
                "calls": [self._call(call, results.get(call.request_id)) for call in turn.calls],
            }
            for turn in checkpoint.turns
        ]
        return {
            "task_id": task.task_id,
            "agent": task.agent_id,
            "requester": requester_view(task.requester),
            "environment": task.environment,
            "state": task.state.value,
            "request": task.request,
            "step": task.step,
            "created_at": task.created_at.isoformat(),
            "updated_at": task.updated_at.isoformat(),
            "trace_id": self._trace_id(task),
            "traceparent": task.traceparent,
            "budget": {
                "limits": task.limits.model_dump(mode="json"),
                "used": budget.used.model_dump(),
                "reserved": budget.reserved.model_dump(),
                "left": budget.remaining.model_dump(),
            },
            "steps": steps,
            "pending_approvals": [self._approval(a) for a in self.ledger.pending_approvals(task_id)],
            "final_answer": task.final_answer,
            "halt_reason": task.halt_reason,
            "error": task.error,
            "parent_task_id": task.context.get("parent_task_id"),
        }

    @staticmethod
    def _call(call: PlannedCall, result: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "call_id": call.call_id,
            "tool": call.tool,
            "arguments": call.args,
            "outcome": call.outcome,
            "decision": call.decision,
            "request_id": call.request_id,
            "approval_id": call.approval_id,
            "child_task_id": call.child_task_id,
            "result": None
            if result is None
            else {"status": result.get("status"), "content": _short(result.get("content"))},
        }
