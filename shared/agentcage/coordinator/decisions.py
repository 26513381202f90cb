"""A person's decision on an approval, and telling people an approval waits.

Approving re-runs the gate as if approved by this person (with their roles), so the policy decides
who may approve what (a refund above the finance threshold needs the ``finance`` role) and an
approval that would not make the call allowed is refused *without* being recorded: the right person
can still decide it. The decision itself is one conditional write in the ledger (409 when already
decided, 410 when expired). An approved call is reserved and sent as a ``ToolRequest`` carrying the
``approval_id`` under the request id the step planned for it; a denied (or expired) one becomes the
call's result, a structured denial the model reads at its next step.

Deciding is idempotent for the same decision by the same person, because the send after the
decision can fail (the POST answers 502) and nothing else would ever send the approved call: the
repeat answers success again and returns the SAME ``ToolRequest`` (same message id, same
reservation), which the executor's consume-once and Service Bus duplicate detection make harmless to
send twice. The request is built once per approval: it is kept in the ledger's ``APPROVED_REQUEST``
claim of the approval, with the request as the claim's outbox entry in the same transaction, before it
is returned (a concurrent copy that loses the claim gives its reservation back and returns the
winner's, which the lost claim hands over). A different decision, or another approver, is still 409.
Repeating the POST recovers a failed send at once; when nobody repeats it, the timer's sweep of
undelivered outbox entries (:mod:`agentcage.coordinator.undelivered`) re-sends a request whose call
still has no result after a while. A later message of the task re-sends nothing: it cannot tell a
lost request from one still in flight. An approval an older deployment sent (an
``approved-<approval id>`` result row) is read as that claim.

An approval that sends nothing is not a success: when the approved call was never sent as a
``ToolRequest`` (the task halted while reserving it, its circuit was open, or it already had a
result), :meth:`DecisionMixin.approval_not_sent` says why, and the HTTP route answers 409 with it,
so the approver is never told a refund was approved into motion when nothing will run.
"""

from __future__ import annotations

from agentcage.approvals import Principal
from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.coordinator.core import Stop
from agentcage.coordinator.messages import Outbox, request_message_id
from agentcage.coordinator.state import (
    PlannedCall,
    ResultRows,
    StepCheckpoint,
    Turn,
    error_content,
    result_slot,
)
from agentcage.coordinator.steps import StepMixin
from agentcage.envelopes import ToolRequest, dump_envelope
from agentcage.errors import (
    ApprovalAlreadyDecidedError,
    ConflictError,
    PolicyDeniedError,
    ReservationStateError,
    SelfApprovalError,
)
from agentcage.ledger.claims import Claim, ClaimScope, OutboxMessage
from agentcage.ledger.models import (
    ApprovalRecord,
    ApprovalStatus,
    ReservationStatus,
    TaskRecord,
    TaskState,
)

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
        if task.driver == "external":  # its calls are steps of their own, open side by side
            return self._external_approval_call(task, approval, checkpoint)
        turn = checkpoint.last
        call = next((c for c in turn.calls if c.approval_id == approval.approval_id), None) if turn else None
        if turn is None or call is None or step != approval.step or checkpoint.stopped:
            raise ConflictError(
                f"approval {approval.approval_id} no longer applies to the task's current step",
                details={"approval_id": approval.approval_id},
            )
        return task, step, turn, call

    def _external_approval_call(
        self, task: TaskRecord, approval: ApprovalRecord, checkpoint: StepCheckpoint
    ) -> tuple[TaskRecord, int, Turn, PlannedCall]:
        """An external task's approved call, its step, and one turn of all its calls (so that resuming
        waits for every approval still pending, not only this call's)."""
        calls = tuple(c for turn in checkpoint.turns for c in turn.calls)
        for turn in checkpoint.turns:
            call = next((c for c in turn.calls if c.approval_id == approval.approval_id), None)
            if call is not None:
                return task, turn.step, Turn(step=turn.step, calls=calls), call
        raise ConflictError(
            f"approval {approval.approval_id} belongs to no call of the task",
            details={"approval_id": approval.approval_id},
        )

    def decide_approval(
        self, approval_id: str, *, approve: bool, principal: Principal, comment: str | None = None
    ) -> Outbox:
        """Record a person's decision and return what to send (the approved call, or the next step)."""
        approval = self.ledger.get_approval(approval_id)
        if _repeats(approval, approve, principal):
            try:
                task, step, turn, call = self._approval_call(approval)
            except ConflictError:
                return Outbox()  # the task moved past the call (it has its result) or ended: all done
            return self._repeat(task, step, turn, call, approve=approve, principal=principal)
        task, step, turn, call = self._approval_call(approval)
        self._check_not_self(principal, approval, task)
        if approve:
            self._check_approver(task, approval, principal)
        try:
            self.ledger.decide_approval(
                approval_id,
                approve,
                approver=principal.id,
                approver_roles=principal.roles,
                comment=comment,
                policy_version=self.gate.policy.version,  # the policies _check_approver just applied
            )
        except ApprovalAlreadyDecidedError:  # a concurrent copy of this very POST may have won
            if not _repeats(self.ledger.get_approval(approval_id), approve, principal):
                raise
            return self._repeat(task, step, turn, call, approve=approve, principal=principal)
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
        return self._carry_out(task, step, turn, call, approve=approve, principal=principal, comment=comment)

    def _repeat(
        self,
        task: TaskRecord,
        step: int,
        turn: Turn,
        call: PlannedCall,
        *,
        approve: bool,
        principal: Principal,
    ) -> Outbox:
        """The same decision by the same person again: do (again) what it asked; send the same messages."""
        approval_id = str(call.approval_id)
        decision = "approved" if approve else "denied"
        data = {"approval_id": approval_id, "decision": decision, "approver": principal.id}
        self._audit(task, "approval_decision_repeated", data, step=step)
        comment = self.ledger.get_approval(approval_id).comment
        return self._carry_out(task, step, turn, call, approve=approve, principal=principal, comment=comment)

    def _carry_out(
        self,
        task: TaskRecord,
        step: int,
        turn: Turn,
        call: PlannedCall,
        *,
        approve: bool,
        principal: Principal,
        comment: str | None,
    ) -> Outbox:
        approval_id = str(call.approval_id)
        outbox = Outbox()
        sent_now = False
        if approve:
            try:
                sent, sent_now = self._send_approved(task, step, call, approval_id)
            except Stop:
                return Outbox()  # the budget ran out: the task halted with the reason
            outbox.extend(sent)
        else:  # the result slot is written once: a repeat records nothing new
            reason = f"{principal.name} denied the call" + (f": {comment}" if comment else "")
            content = error_content("approval_denied", reason, approval_id=approval_id)
            self._record(
                task.task_id,
                call.request_id,
                result_slot("denied", content, tool=call.tool, source="approval"),
            )
        # A request sent just now cannot have its result yet: the step cannot advance before it has.
        return outbox.extend(self._resume(task, step, turn, claimant=approval_id, advance=not sent_now))

    def _send_approved(
        self, task: TaskRecord, step: int, call: PlannedCall, approval_id: str
    ) -> tuple[Outbox, bool]:
        """The approved call's one ``ToolRequest``: built and kept the first time, the same one after;
        and whether it was built by this call (True) rather than before."""
        claim = self.ledger.get_claim(task.task_id, ClaimScope.APPROVED_REQUEST, approval_id)
        kept = self._kept_request(task, claim)
        if kept is not None:
            return kept, False
        rows = self._rows(task.task_id)
        legacy = rows.legacy_approved_request(approval_id)
        if legacy is not None:  # sent by an older deployment: its row is the claim
            return Outbox(tool_requests=[ToolRequest.model_validate(legacy)]), False
        if call.request_id in rows.results:
            return Outbox(), False  # answered without a request (its circuit was open): nothing to send
        dispatched = self._dispatch(
            task, step, call, self._trace_of(task).child().traceparent, approval_id=approval_id
        )
        if dispatched.request is None:
            if dispatched.local_result is not None:
                self._record(task.task_id, call.request_id, dispatched.local_result)
            return Outbox(), False
        request = self._request_of(dispatched)
        outcome = self.ledger.claim(
            task.task_id,
            ClaimScope.APPROVED_REQUEST,
            approval_id,
            claimant=request.reservation_id,  # one per copy of this decision: the race's winner
            payload={"request": dispatched.request},
            outbox=[
                OutboxMessage(
                    destination=TOOL_REQUESTS_QUEUE,
                    message_id=request_message_id(request),
                    body=dump_envelope(request),
                )
            ],
        )
        if not outcome.won:
            # A concurrent copy of this decision kept its request first: give this copy's reservation back.
            self.ledger.release(request.reservation_id)
            winner = _claimed_request(outcome.claim)
            return Outbox(tool_requests=[winner] if winner is not None else []), False
        self._audit(task, "tool_request", {"approval_id": approval_id, **dispatched.request}, step=step)
        return Outbox(tool_requests=[request]), True

    def _kept_request(self, task: TaskRecord, claim: Claim | None) -> Outbox | None:
        """What to send for the request an approval was kept as (``None``: none was kept): the same one;
        a fresh one in its place when it expired and never ran (a repeat long after the first send
        would otherwise re-send a request the executor refuses as expired, as the timer's sweep would)."""
        sent = _claimed_request(claim) if claim is not None else None
        if sent is None:
            return None
        if sent.is_expired(self.ledger.now()):
            again, replaced = self.redispatch_expired(task, sent)
            if replaced:
                return again
        return Outbox(tool_requests=[sent])

    def redispatch_expired(self, task: TaskRecord, request: ToolRequest) -> tuple[Outbox, bool]:
        """An approval's request that expired unanswered (its send was lost): what to send instead, and
        whether ``request`` is done with (a fresh request, or the call's failure, replaced it).

        A reservation never consumed means the call never ran; releasing it (a conditional write) makes
        sure it never can, so the approval, still unspent, is dispatched again exactly as the first time:
        a fresh reservation and ``ToolRequest`` (same request id, new queue message id) kept in a new
        ``APPROVED_REQUEST`` claim with its outbox entry. A consumed reservation ran or runs: its answer
        comes from the executor (or its recovery), so nothing is done. An approval that can no longer
        be used (expired, or spent) makes the call's result a readable failure, so the task never waits
        for ever.
        """
        approval_id = request.approval_id
        if approval_id is None:
            return Outbox(), False  # not an approval's request: no claim of ours to dispatch again
        claim = self.ledger.get_claim(task.task_id, ClaimScope.APPROVED_REQUEST, approval_id)
        kept = _claimed_request(claim) if claim is not None else None
        if kept is None or kept.reservation_id != request.reservation_id:
            return Outbox(), True  # replaced by a fresh request already
        if not self._never_ran(request.reservation_id):
            return Outbox(), False
        approval = self.ledger.get_approval(approval_id)
        try:
            task, step, turn, call = self._approval_call(approval)
        except ConflictError:
            return Outbox(), True  # the task moved past the call or ended: nothing waits for it
        if call.request_id in self._results(task.task_id):
            return Outbox(), True
        return self._dispatch_again(task, step, turn, call, approval, lost=request), True

    def _dispatch_again(
        self,
        task: TaskRecord,
        step: int,
        turn: Turn,
        call: PlannedCall,
        approval: ApprovalRecord,
        *,
        lost: ToolRequest,
    ) -> Outbox:
        """Send ``approval``'s call under a fresh reservation in place of the ``lost`` request that never
        ran; or, when the approval can no longer be used, record the call's failure and move on."""
        approval_id = approval.approval_id
        data = {"approval_id": approval_id, "request_id": call.request_id, "expired": lost.reservation_id}
        now = self.ledger.now()
        if (
            approval.status is not ApprovalStatus.APPROVED
            or approval.used_at is not None
            or (now >= approval.expires_at)
        ):
            expired = (
                f" (it expired at {approval.expires_at.isoformat()})" if now >= approval.expires_at else ""
            )
            reason = (
                "the approved call's request was lost before it ran and its approval can no longer be "
                f"used{expired}; ask again"
            )
            content = error_content("request_lost", reason, approval_id=approval_id)
            slot = result_slot("error", content, tool=call.tool, source="coordinator")
            if self._record(task.task_id, call.request_id, slot):
                self._audit(task, "tool_request_lost", {**data, "reason": reason}, step=step)
            return self._resume(task, step, turn, claimant=approval_id)
        # The claim held the lost request: give it up, so the approval is sent as on its first dispatch.
        self.ledger.release_claim(
            task.task_id, ClaimScope.APPROVED_REQUEST, approval_id, claimant=lost.reservation_id
        )
        try:
            sent, _ = self._send_approved(task, step, call, approval_id)
        except Stop:
            return Outbox()  # the budget ran out: the task halted with the reason
        fresh = sent.tool_requests[0].reservation_id if sent.tool_requests else None
        self._audit(task, "tool_request_redispatched", {**data, "reservation_id": fresh}, step=step)
        if sent.tool_requests:
            return sent
        return self._resume(task, step, turn, claimant=approval_id)  # answered here (an open circuit)

    def _never_ran(self, reservation_id: str) -> bool:
        """Whether the call of a tool reservation past its expiry never ran and never can: it was not
        consumed, and is now released (or was released or expired unconsumed before)."""
        reservation = self.ledger.get_reservation(reservation_id)
        if reservation.consumed_at is not None:
            return False
        if reservation.status is ReservationStatus.ACTIVE:
            try:  # conditional on still being active: a consume cannot pass it afterwards
                reservation = self.ledger.release(reservation_id)
            except ReservationStateError:
                reservation = self.ledger.get_reservation(reservation_id)  # consumed meanwhile?
        return reservation.consumed_at is None and reservation.status in (
            ReservationStatus.RELEASED,
            ReservationStatus.EXPIRED,
        )

    def _approved_request(
        self, task_id: str, approval_id: str, rows: ResultRows | None = None
    ) -> ToolRequest | None:
        """The ``ToolRequest`` already sent for an approval (its claim, or an older deployment's row)."""
        claim = self.ledger.get_claim(task_id, ClaimScope.APPROVED_REQUEST, approval_id)
        if claim is not None:
            return _claimed_request(claim)
        legacy = (rows or self._rows(task_id)).legacy_approved_request(approval_id)
        return ToolRequest.model_validate(legacy) if legacy is not None else None

    def approval_not_sent(self, approval_id: str) -> ConflictError | None:
        """After an approve: ``None`` when the approved call went out as a ``ToolRequest`` (now or
        before); otherwise the conflict that says why nothing was sent."""
        approval = self.ledger.get_approval(approval_id)
        claim = self.ledger.get_claim(approval.task_id, ClaimScope.APPROVED_REQUEST, approval_id)
        if claim is not None and _claimed_request(claim) is not None:
            return None
        rows = self._rows(approval.task_id)
        if rows.legacy_approved_request(approval_id) is not None:
            return None
        task = self.ledger.get_task(approval.task_id)
        _, checkpoint = self._checkpoint(task.task_id)
        calls = [c for turn in checkpoint.turns for c in turn.calls if c.approval_id == approval_id]
        answered = rows.results.get(calls[0].request_id) if calls else None
        if answered is not None:
            content = answered.get("content")
            error = content.get("error") if isinstance(content, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            why = f"the call already has a result ({answered.get('status')}{f': {code}' if code else ''})"
        elif task.state.is_final:
            why = f"the task is {task.state.value}" + (f": {task.halt_reason}" if task.halt_reason else "")
        else:
            why = "no call of the task's current step waits for it"
        return ConflictError(
            f"approval {approval_id} is {approval.status.value}, but its call was not sent: {why}",
            details={"approval_id": approval_id, "status": approval.status.value, "sent": False},
        )

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

    def _check_not_self(self, principal: Principal, approval: ApprovalRecord, task: TaskRecord) -> None:
        """Refuse the agent itself, the identity the coordinator runs as, and the task's requester.

        In the cloud an approver is an Entra object id, which never equals an agent's name; what an
        agent could actually approve with is the coordinator's own managed identity (an app-only
        principal, which ``principal_from_header`` refuses too), so its object id is refused here.
        The requester is refused too (four eyes): an approval is a second person's decision, and an
        agent framework holding the requester's own token (the MCP gateway's callers) must not be able
        to approve the writes it asked for. The executor applies the same rule to the ledger's record.
        """
        own = self.settings.coordinator_principal_id
        if principal.id in {approval.agent_id, task.agent_id} or (own and principal.id == own):
            raise SelfApprovalError(
                f"{principal.id} is the agent that asked (or the coordinator it runs in); "
                "it cannot approve its own call",
                details={"approval_id": approval.approval_id},
            )
        if task.requester is not None and principal.id == task.requester.id:
            raise SelfApprovalError(
                f"{principal.id} asked for this task; a call made on their behalf needs another "
                "person's approval",
                details={"approval_id": approval.approval_id, "reason": "requester"},
            )

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
            requester=task.requester,
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

    def _resume(
        self, task: TaskRecord, step: int, turn: Turn, *, claimant: str, advance: bool = True
    ) -> Outbox:
        if not self._waiting_approvals(task.task_id, turn):  # this turn's, never a stray one
            self._move(task.task_id, TaskState.RUNNING, expected=TaskState.AWAITING_APPROVAL)
        if not advance:
            return Outbox()
        return self._maybe_advance(task.task_id, step, turn, claimant=claimant)

    @staticmethod
    def _request_of(call: PlannedCall) -> ToolRequest:
        return ToolRequest.model_validate(call.request)


def _claimed_request(claim: Claim) -> ToolRequest | None:
    """The ``ToolRequest`` an ``APPROVED_REQUEST`` claim holds (``None`` when it holds none readable)."""
    request = claim.payload.get("request")
    return ToolRequest.model_validate(request) if isinstance(request, dict) else None


def _repeats(approval: ApprovalRecord, approve: bool, principal: Principal) -> bool:
    """Whether the approval already holds exactly this decision by this person."""
    wanted = ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED
    return approval.status is wanted and approval.approver == principal.id
