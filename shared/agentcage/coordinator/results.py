"""Tool results coming back, and the end of a task whose step message died.

A result message is a doorbell, not evidence: anyone able to send to the results queue or Service Bus
can send one naming any call (the request ids are shown by ``GET /api/tasks/{id}``). A result is
accepted only for a call of the current step that the coordinator dispatched (its checkpointed
``ToolRequest``, or the one an approval was sent as), and only when the ledger holds the executor's
answer for that call's request id AND its reservation (:mod:`agentcage.ledger.answers`, kept before it
is sent); what is recorded is that kept answer, never the message's content. Anything else is audited
(``result_unverified``) and dropped.

A result is recorded once per request id (a put-if-absent write): the first delivery settles the
call's reservation; a duplicate delivery changes nothing. The tool's circuit is *not* updated here: the
executor, which sees the real HTTP status (a 4xx from an internal service is not a failure, a 404 from
an egress tool is), records every outcome once in the shared ledger; counting again here would open the
circuit after half the failures. When the step's last result arrives the task advances exactly once (see
:mod:`agentcage.coordinator.core`). A result the executor refused because the tool's circuit is open,
and a failure that trips the circuit, halt the task with a reason a person can read.
"""

from __future__ import annotations

import logging
from typing import Any

from agentcage.budget.breaker import CircuitState
from agentcage.budget.limits import Usage
from agentcage.coordinator.decisions import DecisionMixin
from agentcage.coordinator.external import external_call
from agentcage.coordinator.messages import Outbox
from agentcage.coordinator.state import PlannedCall, error_content, result_slot
from agentcage.envelopes import ToolRequest, ToolResult
from agentcage.errors import CircuitOpenError, ReservationStateError, TaskNotFoundError
from agentcage.ledger.answers import kept_answer
from agentcage.ledger.models import TaskRecord, TaskState
from agentcage.trace import bound_context

__all__ = ["ResultMixin"]

_log = logging.getLogger("agentcage.coordinator")


class ResultMixin(DecisionMixin):
    """``record_result`` and ``fail_task``."""

    def record_result(self, result: ToolResult) -> Outbox:
        """Record one executor result (idempotently) and return the next step when the step is complete."""
        try:
            task = self.ledger.get_task(result.task_id)
        except TaskNotFoundError:
            _log.warning("tool result %s for unknown task %s dropped", result.message_id, result.task_id)
            return Outbox()
        with bound_context(
            trace=result.trace, task_id=task.task_id, step=result.step, agent_id=task.agent_id
        ):
            return self._record_result(task, result)

    def _record_result(self, task: TaskRecord, message: ToolResult) -> Outbox:
        step, checkpoint = self._checkpoint(task.task_id)
        turn = checkpoint.last if step == message.step else None
        call = next((c for c in turn.calls if c.request_id == message.request_id), None) if turn else None
        if task.driver == "external":  # every call is a step of its own; several are open at once
            found = external_call(checkpoint, message.request_id)
            turn, call = found if found is not None and found[0].step == message.step else (None, None)
        if call is None:
            known = message.request_id in self._results(task.task_id)
            kind = "duplicate_result" if known else "result_ignored"
            self._audit(
                task,
                kind,
                {**message.summary(), "reason": "not a call of the current step"},
                step=message.step,
            )
            return Outbox()
        dispatched = self._dispatched_request(task, call)
        result = self._kept_answer(task, call, message, dispatched)
        if result is None or dispatched is None:
            return Outbox()
        content: Any = result.result
        if result.error is not None:
            content = error_content(result.error.code, result.error.message)
        slot = result_slot(
            result.status, content, tool=result.tool, source="executor", message_id=result.message_id
        )
        halted = False
        if self._record(task.task_id, result.request_id, slot):
            self._audit(task, "tool_result", result.summary(), step=result.step)
            halted = self._account(task, dispatched, result)
        else:
            self._audit(task, "duplicate_result", result.summary(), step=result.step)
        # the task as read above, unless accounting for the result halted it
        current = None if halted else task
        outbox = self._maybe_advance(task.task_id, step, turn, claimant=result.message_id, task=current)
        return outbox.extend(self._report_to_parent(task.task_id, known=task))

    def _kept_answer(
        self, task: TaskRecord, call: PlannedCall, message: ToolResult, dispatched: ToolRequest | None
    ) -> ToolResult | None:
        """The executor's answer the ledger keeps for ``call``, which this coordinator dispatched as
        ``dispatched``; ``None`` (audited) when it was never dispatched or no answer to its reservation
        was kept."""
        reason = None
        kept = None
        if dispatched is None:
            reason = "the call was never sent to the executor"
        else:
            kept = kept_answer(
                self.ledger,
                task.task_id,
                request_id=call.request_id,
                reservation_id=dispatched.reservation_id,
            )
            if kept is None:
                reason = "the ledger holds no answer of the executor to this call's reservation"
        if kept is None:
            _log.warning("result for %s of task %s dropped: %s", call.request_id, task.task_id, reason)
            data = {**message.summary(), "message_id": message.message_id, "reason": reason}
            self._audit(task, "result_unverified", data, step=message.step)
            return None
        if kept.message_id != message.message_id or kept.status != message.status:
            data = {
                "kept": kept.summary(),
                "message": {**message.summary(), "message_id": message.message_id},
            }
            self._audit(task, "result_differs_from_kept", data, step=message.step)
        return kept

    def _dispatched_request(self, task: TaskRecord, call: PlannedCall) -> ToolRequest | None:
        """The ``ToolRequest`` this call was sent as: from the checkpoint, or its approval's claim."""
        if call.request is not None:
            return ToolRequest.model_validate(call.request)
        if call.outcome == "approval" and call.approval_id:
            return self._approved_request(task.task_id, call.approval_id)
        return None

    def _account(self, task: TaskRecord, dispatched: ToolRequest, result: ToolResult) -> bool:
        """Settle the call's reservation once; halt the task if its tool's circuit is open (True)."""
        reservation_id = dispatched.reservation_id
        if reservation_id:
            try:  # one attempt, at the cost that was reserved for it, whatever its outcome
                cost = self.ledger.get_reservation(reservation_id).amounts.cost_micro_usd
                self.ledger.settle(reservation_id, Usage(tool_calls=1, cost_micro_usd=cost))
            except ReservationStateError as error:  # settled already (a sweep charged it): count once
                _log.info("reservation %s not settled again: %s", reservation_id, error.message)
        if result.status == "circuit_open":
            # As when the coordinator itself finds the circuit open: the model hears it once (another
            # task may hold the half-open probe, or the circuit opened after the coordinator looked),
            # and a task that meets the open circuit again halts.
            if not self._told_circuit_open_before(task.task_id, result.tool, claimant=result.request_id):
                self._audit(
                    task, "circuit_open", {"tool": result.tool, "source": "executor"}, step=result.step
                )
                return False
            message = result.error.message if result.error else f"the circuit of {result.tool} is open"
            self.guard.trip(
                task.task_id,
                CircuitOpenError(f"{result.tool} is unavailable: {message}", details={"tool": result.tool}),
            )
            return True
        if result.status == "error":
            return self._halt_if_circuit_opened(task, result)
        return False

    def _halt_if_circuit_opened(self, task: TaskRecord, result: ToolResult) -> bool:
        """A failure the executor counted may have opened the circuit: then the task halts, saying why
        (True)."""
        circuit = self.ledger.circuit(result.tool)
        if circuit.state is not CircuitState.OPEN:
            return False
        cooldown = self.ledger.breaker.cooldown_seconds
        last = f" (last: {result.error.code})" if result.error else ""
        self.guard.trip(
            task.task_id,
            CircuitOpenError(
                f"{result.tool} failed {circuit.consecutive_failures} times in a row{last}; "
                f"its circuit is open for {cooldown:g} s",
                details={"tool": result.tool, "consecutive_failures": circuit.consecutive_failures},
            ),
        )
        return True

    def fail_task(self, task_id: str, reason: str, *, code: str = "step_failed") -> Outbox:
        """End the task ``failed`` with ``reason`` (its step message could not be processed: dead letter)."""
        try:
            task = self.ledger.get_task(task_id)
        except TaskNotFoundError:
            return Outbox()
        if self._move(task_id, TaskState.FAILED, reason=reason, error={"code": code, "message": reason}):
            self._audit(task, "task_failed", {"code": code, "reason": reason})
        return self._report_to_parent(task_id)
