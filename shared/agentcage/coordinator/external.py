"""Tasks driven by an external agent: every call an MCP client makes is one step of its task.

An external task (``TaskRecord.driver == "external"``) has no model loop: its client proposes each call.
:meth:`ExternalCalls.propose` decides it with the same :class:`~agentcage.coordinator.planning.CallPlanner`
as a model step (toolset, schema, inspection, Cedar, loop, circuit, reservation, approval), checkpoints it
as the task's next step (one turn with one call, put-if-absent; a concurrent call that took the number
first makes this one take the next), records a local refusal, moves the task to ``awaiting_approval`` and
notifies people when the call needs an approval, and returns the ``ToolRequest`` to send through the
same queues and bridge. The executor's result comes back through
:meth:`~agentcage.coordinator.service.Coordinator.record_result` like any other; nothing advances to a
model step (:meth:`CoordinatorCore._maybe_advance` says so).

Repeating a call does not repeat its effect. A call with the same tool and argument digest as an earlier
one of the task is answered from that call, without a new decision: while it waits (for its approval,
or for its result: the client's poll after a ``pending`` answer), and after, with its recorded result
(an approved call ran once; a denial stands); a dispatched call still waiting after a few seconds
sends its request again (the same message: its first send may have failed). Only an earlier call that
failed, met an open circuit or whose approval expired is decided again (and counted by the loop
detector, like any repeated proposal).
An approval past its expiry is expired when the client asks after it, if the expiry timer
(:mod:`agentcage.coordinator.expiry`, which looks at every call of an external task) has not yet.

The checkpoint keeps every turn, as a model task's does; the task's tool-call limit bounds it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from agentcage.coordinator.core import Stop
from agentcage.coordinator.messages import Outbox, StartTask
from agentcage.coordinator.state import PlannedCall, StepCheckpoint, Turn
from agentcage.envelopes import ToolRequest, args_digest, new_id
from agentcage.errors import AgentcageError, ConflictError
from agentcage.ledger.models import ApprovalStatus, Requester, TaskRecord, TaskState
from agentcage.models.types import ToolCall
from agentcage.telemetry import tool_span
from agentcage.trace import TraceContext, continue_or_start

if TYPE_CHECKING:
    from agentcage.coordinator.service import Coordinator

__all__ = ["RESEND_AFTER_SECONDS", "CallStatus", "ExternalCall", "ExternalCalls", "external_call"]

_log = logging.getLogger("agentcage.coordinator")

RESEND_AFTER_SECONDS = 5.0
"""How long a dispatched call may wait for its result before a repeat of it sends its request again."""

_CHECKPOINT_ATTEMPTS = 64
"""How many step numbers one call tries before giving up (each lost race means another call took one)."""

CallStatus = Literal["done", "pending", "approval_required", "ended"]


@dataclass(frozen=True, slots=True)
class ExternalCall:
    """Where one external call stands: its task, the planned call and, once there is one, its result.

    ``status``: ``done`` (``result`` is the recorded slot), ``pending`` (sent, or approved and sent; no
    result yet), ``approval_required`` (a person has not decided), ``ended`` (the task ended without a
    result for it; ``task.halt_reason`` says why).
    """

    task: TaskRecord
    call: PlannedCall | None
    status: CallStatus
    result: Mapping[str, Any] | None = None
    approval_url: str | None = None
    reasons: tuple[str, ...] = ()
    repeated: bool = False


def external_call(checkpoint: StepCheckpoint, request_id: str) -> tuple[Turn, PlannedCall] | None:
    """The turn and call of ``request_id`` among every turn of an external task's checkpoint."""
    for turn in checkpoint.turns:
        for call in turn.calls:
            if call.request_id == request_id:
                return turn, call
    return None


class ExternalCalls:
    """Opens external tasks and carries their calls through the coordinator's lifecycle."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    # --- tasks ------------------------------------------------------------------------------------
    def open_task(
        self,
        task_id: str,
        *,
        agent_id: str,
        requester: Requester,
        request: str,
        traceparent: str | None,
    ) -> TaskRecord:
        """The external task ``task_id`` of ``agent_id`` for ``requester``: created (with the agent's
        default budget, ``running``) the first time, the same one after.

        A task of that id that another requester, another agent or the coordinator's own loop runs is a
        :class:`ConflictError`: a caller never joins a task that is not its own.
        """
        coordinator = self.coordinator
        ledger = coordinator.ledger
        try:
            task = ledger.get_task(task_id)
        except AgentcageError as error:
            if error.status != 404:
                raise
            task = self._create(task_id, agent_id, requester, request, traceparent)
        if task.driver != "external" or task.agent_id != agent_id or _owner(task) != requester.id:
            raise ConflictError(
                f"task {task_id} is not an external task of {agent_id} for this caller",
                details={"task_id": task_id},
            )
        if task.state is TaskState.PENDING:
            coordinator._move(task_id, TaskState.RUNNING, expected=TaskState.PENDING)
            task = ledger.get_task(task_id)
        return task

    def _create(
        self, task_id: str, agent_id: str, requester: Requester, request: str, traceparent: str | None
    ) -> TaskRecord:
        coordinator = self.coordinator
        agent = coordinator.gate.agent(agent_id)
        limits = coordinator._limits(agent, StartTask(request=request, agent=agent.id))
        try:
            task = coordinator.ledger.create_task(
                agent_id=agent.id,
                environment=coordinator.settings.environment,
                request=request,
                limits=limits,
                traceparent=continue_or_start(traceparent).traceparent,
                task_id=task_id,
                requester=requester,
                driver="external",
            )
        except ConflictError:  # a concurrent first call created it
            return coordinator.ledger.get_task(task_id)
        coordinator._audit(
            task,
            "task_created",
            {
                "agent": agent.id,
                "driver": "external",
                "requester": requester.model_dump(mode="json"),
                "limits": task.limits.model_dump(mode="json"),
                "trace_id": coordinator._trace_id(task),
            },
        )
        return task

    # --- calls ------------------------------------------------------------------------------------
    def propose(
        self,
        task: TaskRecord,
        tool: str,
        arguments: Any,
        *,
        trace: TraceContext,
        client: Mapping[str, Any],
    ) -> tuple[ExternalCall, Outbox]:
        """Decide one call of the external ``task`` (or find the earlier identical one) and say what to
        send; ``client`` (the MCP client's name and version) goes to the audit log."""
        coordinator = self.coordinator
        if task.state.is_final:
            return ExternalCall(task=task, call=None, status="ended"), Outbox()
        seen, checkpoint = coordinator._checkpoint(task.task_id)
        earlier = self._earlier(task, checkpoint, tool, arguments)
        if earlier is not None:
            coordinator._audit(
                task,
                "external_call_repeated",
                {"request_id": earlier.request_id, "tool": tool, "client": dict(client)},
            )
            outcome = self.where(task.task_id, earlier.request_id, repeated=True)
            return outcome, _resend(earlier, outcome, coordinator.ledger.now())
        agent = coordinator.gate.agent(task.agent_id)
        proposal = ToolCall(
            id=new_id("mcp"),
            name=tool,
            arguments=arguments if isinstance(arguments, dict) else {},
            invalid_arguments=None if isinstance(arguments, dict) else "the arguments are not an object",
        )
        step = (task.step or 0) + 1
        try:
            with tool_span(trace, task_id=task.task_id, tool=tool, call_id=proposal.id):
                planned = coordinator.planner.decide(task, step, trace, agent, proposal)
        except Stop:
            return ExternalCall(
                task=coordinator.ledger.get_task(task.task_id), call=None, status="ended"
            ), Outbox()
        saved = self._checkpoint(task, planned, seen)
        if isinstance(saved, PlannedCall):  # an identical call, proposed at the same time, won
            coordinator._audit(
                task,
                "external_call_repeated",
                {"request_id": saved.request_id, "tool": tool, "client": dict(client), "concurrent": True},
            )
            return self.where(task.task_id, saved.request_id, repeated=True), Outbox()
        planned, step = saved
        event = {**planned.decision_event(), "client": dict(client)}
        coordinator._audit(task, "decision", event, step=step)
        return self._after_checkpoint(task, planned)

    def _earlier(
        self, task: TaskRecord, checkpoint: StepCheckpoint, tool: str, arguments: Any
    ) -> PlannedCall | None:
        """The latest earlier call this one repeats, when it must be answered from (see the module doc)."""
        if not isinstance(arguments, dict):
            return None
        try:
            digest = args_digest(arguments)
        except AgentcageError:
            return None
        calls = [
            c for turn in checkpoint.turns for c in turn.calls if c.tool == tool and c.args_digest == digest
        ]
        if not calls:
            return None
        call = calls[-1]
        if call.outcome == "approval" and call.approval_id:
            status = self._approval_status(call.approval_id)
            result = self.coordinator._results(task.task_id).get(call.request_id)
            return None if status is ApprovalStatus.EXPIRED and result is not None else call
        result = self.coordinator._results(task.task_id).get(call.request_id)
        if result is None or _final(result):
            return call
        return None  # failed, or refused for a passing reason (an open circuit): decided again

    def _checkpoint(
        self, task: TaskRecord, planned: PlannedCall, seen: int
    ) -> tuple[PlannedCall, int] | PlannedCall:
        """Save ``planned`` as the task's next step; returns it as saved, and that step's number.

        Identical calls proposed at the same time (the same tool and arguments, none of them in the
        checkpoint ``seen`` at step ``seen`` yet) all pass the repeat check; the step numbers order
        them, and only the first is kept: a later one finds it in the checkpoint, is withdrawn (its
        reservation released, its approval superseded, nothing recorded or sent) and that earlier call
        is returned instead, so it runs once and every copy is answered from it.
        """
        coordinator = self.coordinator
        for _ in range(_CHECKPOINT_ATTEMPTS):
            last, checkpoint = coordinator._checkpoint(task.task_id)
            twin = _concurrent_twin(checkpoint, seen, planned)
            if twin is not None:
                self._withdraw(task, planned, f"an identical call ({twin.request_id}) was proposed at once")
                return twin
            step = last + 1
            call = _at_step(planned, step)
            turn = Turn(step=step, calls=(call,))
            data = StepCheckpoint(turns=(*checkpoint.turns, turn)).model_dump(mode="json")
            if coordinator.ledger.save_checkpoint(task.task_id, step, data):
                return call, step
        self._withdraw(task, planned, "the call could not be checkpointed")
        raise ConflictError(
            f"task {task.task_id} is too busy: concurrent calls took all {_CHECKPOINT_ATTEMPTS} step "
            "numbers this one tried; try again",
            details={"task_id": task.task_id},
        )

    def _withdraw(self, task: TaskRecord, planned: PlannedCall, reason: str) -> None:
        """Undo what deciding ``planned`` set aside, for a call that will never be checkpointed."""
        if planned.request is not None:
            self.coordinator.ledger.release(str(planned.request["reservation_id"]))
        if planned.approval_id:
            self.coordinator._supersede_approvals(task, [planned.approval_id], reason)

    def _after_checkpoint(self, task: TaskRecord, call: PlannedCall) -> tuple[ExternalCall, Outbox]:
        coordinator = self.coordinator
        outbox = Outbox()
        if call.outcome == "local" and call.local_result is not None:
            coordinator._record(task.task_id, call.request_id, call.local_result)
        elif call.request is not None:
            outbox.tool_requests.append(ToolRequest.model_validate(call.request))
        elif call.outcome == "approval" and call.approval_id:
            coordinator._move(task.task_id, TaskState.AWAITING_APPROVAL, expected=TaskState.RUNNING)
            coordinator._notify(task, call.approval_id)
        return self.where(task.task_id, call.request_id), outbox

    # --- where a call stands ----------------------------------------------------------------------
    def where(self, task_id: str, request_id: str, *, repeated: bool = False) -> ExternalCall:
        """Where the call ``request_id`` of the external task stands now (read from the ledger)."""
        coordinator = self.coordinator
        task = coordinator.ledger.get_task(task_id)
        _, checkpoint = coordinator._checkpoint(task_id)
        found = external_call(checkpoint, request_id)
        if found is None:
            return ExternalCall(task=task, call=None, status="ended", repeated=repeated)
        _, call = found
        result = coordinator._results(task_id).get(request_id)
        waiting = (
            result is None and call.outcome == "approval" and call.approval_id and not task.state.is_final
        )
        if waiting and self._approval_status(str(call.approval_id)) is ApprovalStatus.EXPIRED:
            # It expired now: its result says so, and the task may have moved on.
            task = coordinator.ledger.get_task(task_id)
            result = coordinator._results(task_id).get(request_id)
        if result is not None:
            return ExternalCall(task=task, call=call, status="done", result=result, repeated=repeated)
        if call.outcome == "approval" and call.approval_id:
            approval = coordinator.ledger.get_approval(call.approval_id)
            if approval.status is ApprovalStatus.PENDING and not task.state.is_final:
                return ExternalCall(
                    task=task,
                    call=call,
                    status="approval_required",
                    approval_url=coordinator.approval_url(call.approval_id),
                    reasons=tuple(approval.reasons),
                    repeated=repeated,
                )
        status: CallStatus = "ended" if task.state.is_final else "pending"
        return ExternalCall(task=task, call=call, status=status, repeated=repeated)

    def _approval_status(self, approval_id: str) -> ApprovalStatus:
        """The approval's status, after expiring it when it is pending past its expiry: whether the
        timer ran yet or not, a client never waits on an approval nobody can decide any more."""
        outbox = self.coordinator.expire_if_overdue(approval_id)
        if outbox:  # an external task has no next step to send; a model task's would be lost here
            raise ConflictError(f"approval {approval_id} does not belong to an external task")
        return self.coordinator.ledger.get_approval(approval_id).status


def _final(result: Mapping[str, Any]) -> bool:
    """Whether a recorded result stands for every repeat: an answer, or a refusal that a retry cannot
    change; a failure or an open circuit may pass, so the repeat is decided again."""
    if result.get("status") in ("error", "circuit_open"):
        content = result.get("content")
        error = content.get("error") if isinstance(content, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return code == "invalid_arguments"
    return True


def _resend(call: PlannedCall, outcome: ExternalCall, now: datetime) -> Outbox:
    """A dispatched call still without a result ``RESEND_AFTER_SECONDS`` after it was issued: its
    ``ToolRequest`` again, the same message.

    Its send may have failed after it was checkpointed (a Service Bus outage, a crash), and nothing
    else would ever send it. A copy of one that did arrive costs nothing: Service Bus drops a message
    id it has seen, and the executor answers a request it ran with the answer it kept (and one that
    expired on the way with an error, so the call gets a result either way). A repeat sooner than
    that (a burst of identical calls) sends nothing.
    """
    if outcome.status != "pending" or call.outcome != "dispatched" or call.request is None:
        return Outbox()
    request = ToolRequest.model_validate(call.request)
    if now - request.issued_at < timedelta(seconds=RESEND_AFTER_SECONDS):
        return Outbox()
    outbox = Outbox()
    outbox.tool_requests.append(request)
    return outbox


def _concurrent_twin(checkpoint: StepCheckpoint, seen: int, planned: PlannedCall) -> PlannedCall | None:
    """A call with ``planned``'s tool and argument digest checkpointed after step ``seen``."""
    if planned.args_digest is None:
        return None
    for turn in checkpoint.turns:
        if turn.step > seen:
            for call in turn.calls:
                if call.tool == planned.tool and call.args_digest == planned.args_digest:
                    return call
    return None


def _owner(task: TaskRecord) -> str | None:
    return task.requester.id if task.requester is not None else None


def _at_step(call: PlannedCall, step: int) -> PlannedCall:
    """``call`` as a call of ``step``: its ``ToolRequest`` names the step it is checkpointed at."""
    if call.request is None:
        return call
    return call.model_copy(update={"request": {**call.request, "step": step}})
