"""Whether the ledger vouches for a message that failed on every delivery, before its task is ended.

A Service Bus message proves nothing by itself: anyone with send rights can put one on a queue naming
any task and any pending call (the ids are shown by ``GET /api/tasks/{id}``). The last delivery of a
message whose work failed every time ends its task ``failed`` only when the ledger shows the message is
the coordinator's own (the same rule the AWS dead-letters Lambda applies to SQS dead letters):

* a ``ToolRequest``: it is exactly the request a dispatched call of that step was sent as (its
  checkpointed request, or the one its approval sent), so its reservation is that call's;
* a ``ToolResult``: it answers a dispatched call, and the ledger keeps the executor's answer to that
  call's reservation under the same message id;
* an ``AgentStep``: the task is not finished and the step is the one the ledger is at (its last
  checkpointed step, or the next one).

Anything else is logged by the caller and left to dead-letter; no task ends on a message's own claims.

The same rule guards the bridge to AWS before it forwards anything (:meth:`VouchMixin.check_dispatched`):
a ``ToolRequest`` on the Service Bus queue is sent to SQS, under the coordinator's federated role and
so as the coordinator, only when the ledger shows it is what a dispatched call was sent as. Otherwise
anyone with send rights on the Service Bus queue could have the coordinator carry their request to
the executor, under the task's own bridge session.
"""

from __future__ import annotations

from agentcage.coordinator.results import ResultMixin
from agentcage.coordinator.state import PlannedCall
from agentcage.envelopes import AgentStep, ToolRequest, ToolResult
from agentcage.errors import NotFoundError, TaskNotFoundError
from agentcage.ledger.answers import kept_answer
from agentcage.ledger.models import TaskRecord

__all__ = ["VouchMixin"]


class VouchMixin(ResultMixin):
    """``vouches_for_request`` (and ``check_dispatched``), ``vouches_for_result`` and ``vouches_for_step``."""

    def vouches_for_request(self, request: ToolRequest) -> bool:
        """Whether ``request`` is exactly what a dispatched call of its task and step was sent as."""
        found = self._call_named(request.task_id, request.step, request.message_id)
        if found is None:
            return False
        task, call = found
        return self._dispatched_request(task, call) == request

    def check_dispatched(self, request: ToolRequest) -> None:
        """Raise :class:`NotFoundError` unless the ledger vouches for ``request``
        (:meth:`vouches_for_request`: its task exists, one of its step's calls was dispatched under its
        message id, and that call was sent as exactly this request, its reservation included)."""
        if not self.vouches_for_request(request):
            raise NotFoundError(
                f"no call of task {request.task_id} dispatched at step {request.step} was sent as request "
                f"{request.message_id} with this reservation and these arguments",
                details={"task_id": request.task_id, "step": request.step, "request_id": request.message_id},
            )

    def vouches_for_result(self, result: ToolResult) -> bool:
        """Whether ``result`` answers a dispatched call with the answer the ledger keeps for it."""
        found = self._call_named(result.task_id, result.step, result.request_id)
        if found is None:
            return False
        task, call = found
        dispatched = self._dispatched_request(task, call)
        if dispatched is None:
            return False
        kept = kept_answer(
            self.ledger, task.task_id, request_id=call.request_id, reservation_id=dispatched.reservation_id
        )
        return kept is not None and kept == result  # the whole envelope, as the dead-letters Lambda checks

    def vouches_for_step(self, step: AgentStep) -> bool:
        """Whether ``step`` is the step its unfinished task is at (checkpointed last, or the next)."""
        try:
            task = self.ledger.get_task(step.task_id)
        except TaskNotFoundError:
            return False
        last, _ = self._checkpoint(task.task_id)
        return not task.state.is_final and step.step in (last, last + 1) and step.step >= 1

    def _call_named(self, task_id: str, step: int, request_id: str) -> tuple[TaskRecord, PlannedCall] | None:
        """The task and its checkpointed call ``request_id`` of step ``step``, if there is one."""
        try:
            task = self.ledger.get_task(task_id)
        except TaskNotFoundError:
            return None
        _, checkpoint = self._checkpoint(task.task_id)
        for turn in checkpoint.turns:
            if turn.step != step:
                continue
            for call in turn.calls:
                if call.request_id == request_id:
                    return task, call
        return None
