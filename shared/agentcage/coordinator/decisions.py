"""A person's decision on an approval, and telling people an approval waits.

Approving re-runs the gate as if approved by this person (with their roles), so the policy decides
who may approve what (a refund above the finance threshold needs the ``finance`` role) and an
approval that would not make the call allowed is refused *without* being recorded: the right person
can still decide it. The decision itself is one conditional write in the ledger (409 when already
decided, 410 when expired). An approved call is reserved and sent as a ``ToolRequest`` carrying the
``approval_id`` under the request id the step planned for it; a denied (or expired) one becomes the
call's result, a structured denial the model reads at its next step.
"""

from __future__ import annotations

from agentcage.approvals import Principal
from agentcage.coordinator.core import Stop
from agentcage.coordinator.messages import Outbox
from agentcage.coordinator.state import PlannedCall, Turn, error_content, result_slot
from agentcage.coordinator.steps import StepMixin
from agentcage.envelopes import ToolRequest
from agentcage.errors import ConflictError, PolicyDeniedError, SelfApprovalError
from agentcage.ledger.models import ApprovalRecord, ApprovalStatus, TaskRecord, TaskState

__all__ = ["DecisionMixin"]


class DecisionMixin(StepMixin):
    """``decide_approval``, ``expire_approval`` and notifications."""

    def _approval_call(self, approval: ApprovalRecord) -> tuple[TaskRecord, int, Turn, PlannedCall]:
        task = self.ledger.get_task(approval.task_id)
        if task.state.is_final:
            raise ConflictError(
                f"task {task.task_id} is {task.state.value}; its approvals can no longer be decided",
                details={"task_id": task.task_id, "state": task.state.value},
            )
        step, checkpoint = self._checkpoint(task.task_id)
        turn = checkpoint.last
        call = next((c for c in turn.calls if c.approval_id == approval.approval_id), None) if turn else None
        if turn is None or call is None or step != approval.step or checkpoint.stopped:
            raise ConflictError(
                f"approval {approval.approval_id} no longer applies to the task's current step",
                details={"approval_id": approval.approval_id},
            )
        return task, step, turn, call

    def decide_approval(
        self, approval_id: str, *, approve: bool, principal: Principal, comment: str | None = None
    ) -> Outbox:
        """Record a person's decision and return what to send (the approved call, or the next step)."""
        approval = self.ledger.get_approval(approval_id)
        task, step, turn, call = self._approval_call(approval)
        if principal.id in {approval.agent_id, task.agent_id}:
            raise SelfApprovalError(f"{principal.id} is the agent that asked; it cannot approve its own call")
        if approve:
            self._check_approver(task, approval, principal)
        self.ledger.decide_approval(
            approval_id, approve, approver=principal.id, approver_roles=principal.roles, comment=comment
        )
        self._audit(
            task,
            "approval_decided",
            {
                "approval_id": approval_id,
                "decision": "approved" if approve else "denied",
                "approver": principal.id,
                "approver_name": principal.name,
                "approver_roles": list(principal.roles),
                "development_approver": principal.development,
                "comment": comment,
            },
            step=step,
        )
        outbox = Outbox()
        if approve:
            try:
                dispatched = self._dispatch(
                    task, step, call, self._trace_of(task).child().traceparent, approval_id=approval_id
                )
            except Stop:
                return Outbox()  # the budget ran out: the task halted with the reason
            if dispatched.request is not None:
                outbox.tool_requests.append(self._request_of(dispatched))
                self._audit(
                    task, "tool_request", {"approval_id": approval_id, **dispatched.request}, step=step
                )
            elif dispatched.local_result is not None:
                self._record(task.task_id, call.request_id, dispatched.local_result)
        else:
            reason = f"{principal.name} denied the call" + (f": {comment}" if comment else "")
            content = error_content("approval_denied", reason, approval_id=approval_id)
            self._record(
                task.task_id,
                call.request_id,
                result_slot("denied", content, tool=call.tool, source="approval"),
            )
        return outbox.extend(self._resume(task, step, turn, claimant=approval_id))

    def expire_approval(self, approval_id: str) -> Outbox:
        """After a refused decision on an expired approval: the call's result says so; the task moves on."""
        approval = self.ledger.get_approval(approval_id)
        if approval.status is not ApprovalStatus.EXPIRED:
            return Outbox()
        task, step, turn, call = self._approval_call(approval)
        content = error_content("approval_expired", f"nobody decided by {approval.expires_at.isoformat()}")
        if self._record(
            task.task_id, call.request_id, result_slot("denied", content, tool=call.tool, source="approval")
        ):
            self._audit(task, "approval_expired", {"approval_id": approval_id}, step=step)
        return self._resume(task, step, turn, claimant=approval_id)

    def _check_approver(self, task: TaskRecord, approval: ApprovalRecord, principal: Principal) -> None:
        tool = self.gate.catalog.get(approval.tool)
        tags = None
        if tool is not None and tool.target is not None:
            tags = self.targets.resolve(tool.target, approval.args)
        decision = self.gate.evaluate(
            approval.agent_id,
            approval.tool,
            approval.args,
            environment=task.environment,
            target_tags=tags,
            approved=True,
            approver_roles=principal.roles,
            budget=self._policy_budget(task.task_id),
        )
        if decision.allowed and decision.args_digest == approval.args_digest:
            return
        roles = ", ".join(decision.approver_roles)
        message = "; ".join(decision.reasons) or "the policy does not allow this call even when approved"
        if roles:
            message = f"this call needs an approver with the role {roles}: {message}"
        raise PolicyDeniedError(
            message,
            details={
                "approval_id": approval.approval_id,
                "policies": list(decision.policies),
                "approver_roles": list(decision.approver_roles),
            },
        )

    def _resume(self, task: TaskRecord, step: int, turn: Turn, *, claimant: str) -> Outbox:
        if not self.ledger.pending_approvals(task.task_id):
            self._move(task.task_id, TaskState.RUNNING, expected=TaskState.AWAITING_APPROVAL)
        return self._maybe_advance(task.task_id, step, turn, claimant=claimant)

    @staticmethod
    def _request_of(call: PlannedCall) -> ToolRequest:
        return ToolRequest.model_validate(call.request)
