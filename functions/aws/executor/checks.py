"""The governance gate again, on receipt in AWS, before anything executes (defense in depth).

The coordinator already ran the gate; the executor trusts none of it. In order, each step refusing
with the error-tree exception whose ``code`` becomes the ToolResult's ``denied`` reason:

1. the request has not expired (``envelope_expired``);
2. when the SQS ``SenderId`` names a role session, the session is the envelope's task (``sender_mismatch``);
3. the task exists and is not finished (``task_not_found``, ``task_finished``);
4. the reservation was made for this task, tool and argument digest, and is consumed now, once
   (``reservation_not_found``, ``reservation_state``, and ``replay`` for a second delivery);
5. a write or destructive call carries an approval that is approved, for this task, tool and exact
   arguments, unexpired, unused, and not decided by the agent (``approval_required``, ``approval_*``,
   ``self_approval``);
6. the target's tags are resolved from the service itself (the tool's ``x-agentcage-target``), never
   taken from the message, and Cedar decides with them (``policy_denied``, ``approval_required``, ...).

The approval is spent (ledger ``use_approval``, a conditional write) by :meth:`ExecutionGate.spend_approval`
just before the call, after the circuit admitted it, so an open circuit does not burn an approval.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentcage.approvals import check_approval
from agentcage.constants import COORDINATOR_PRINCIPAL_ID_ENV, ENVIRONMENT_ENV
from agentcage.errors import (
    AgentcageError,
    ApprovalRequiredError,
    EnvelopeExpiredError,
    ReservationStateError,
    SenderMismatchError,
    TaskFinishedError,
    UnknownToolError,
)
from agentcage.federation import session_name_from_sender_id, session_name_matches
from agentcage.policy import is_production_environment
from agentcage.transport import ServiceRequest, ServiceTransport

if TYPE_CHECKING:
    from agentcage.envelopes import ToolRequest
    from agentcage.gate import GateDecision, GovernanceGate
    from agentcage.ledger import ApprovalRecord, Ledger, Reservation
    from agentcage.tools import Tool

__all__ = ["Authorization", "ExecutionGate", "TargetResolution"]


@dataclass(frozen=True, slots=True)
class TargetResolution:
    """The target a call acts on, as the service describes it (``tags`` is ``None`` when unknown)."""

    target_id: str
    tags: Mapping[str, str] | None
    status: int | None

    def to_dict(self) -> dict[str, Any]:
        """The resolution as JSON (audit events)."""
        tags = dict(self.tags) if self.tags is not None else None
        return {"target_id": self.target_id, "known": tags is not None, "tags": tags, "status": self.status}


@dataclass(frozen=True, slots=True)
class Authorization:
    """A request that passed every check: what it may call and under which approval."""

    tool: Tool
    reservation: Reservation
    decision: GateDecision
    environment: str
    approval: ApprovalRecord | None = None
    target: TargetResolution | None = None


class ExecutionGate:
    """Runs the checks of the module docstring for one :class:`ToolRequest`.

    ``environment`` is the deployment's (argument, then ``AGENTCAGE_ENVIRONMENT``, then the task's);
    when the task says production, production it is, whatever the deployment says.
    """

    def __init__(
        self,
        gate: GovernanceGate,
        ledger: Ledger,
        transport: ServiceTransport,
        *,
        environment: str | None = None,
    ) -> None:
        self.gate = gate
        self.ledger = ledger
        self.transport = transport
        self.environment = environment or os.environ.get(ENVIRONMENT_ENV) or None
        # The coordinator's own managed identity must never count as an approver (defense in depth:
        # the coordinator refuses it too); set by infra from the identity's object id.
        principal = (os.environ.get(COORDINATOR_PRINCIPAL_ID_ENV) or "").strip()
        self.excluded_approvers: tuple[str, ...] = (principal,) if principal else ()

    def check(
        self,
        request: ToolRequest,
        *,
        sender_id: str | None,
        now: datetime,
        headers: Mapping[str, str] | None = None,
    ) -> Authorization:
        """Every check before execution; raises the refusing :class:`AgentcageError`.

        ``headers`` go on the target-resolving read (the trace carriers).
        """
        if request.is_expired(now):
            raise EnvelopeExpiredError(
                f"tool request {request.message_id} expired at {request.expires_at.isoformat()}",
                details={"expires_at": request.expires_at.isoformat()},
            )
        self._check_sender(request, sender_id)
        task = self.ledger.get_task(request.task_id)
        if task.state.is_final:
            raise TaskFinishedError(
                f"task {task.task_id} is {task.state.value}; its tool calls no longer run",
                details={"state": task.state.value},
            )
        environment = self.environment or task.environment
        if is_production_environment(task.environment):
            environment = task.environment
        reservation = self._consume_reservation(request)
        tool = self.gate.catalog.get(request.tool)
        if tool is None:
            raise UnknownToolError(f"no tool named {request.tool!r}", details={"tool": request.tool})
        approval = self._approval(request, tool, now) if tool.effect != "read" else None
        target = self.resolve_target(tool, request.args, headers or {})
        decision = self.decide(request, environment=environment, approval=approval, target=target)
        return Authorization(tool, reservation, decision, environment, approval, target)

    def decide(
        self,
        request: ToolRequest,
        *,
        environment: str,
        approval: ApprovalRecord | None,
        target: TargetResolution | None,
    ) -> GateDecision:
        """Cedar's decision on the request with what was verified here; raises the refusal if denied."""
        decision = self.gate.evaluate(
            request.agent_id,
            request.tool,
            request.args,
            environment=environment,
            target_tags=target.tags if target is not None else None,
            approved=approval is not None,
            approver_roles=tuple(approval.approver_roles) if approval is not None else (),
        )
        refusal = decision.to_exception()
        if refusal is not None:
            if target is not None:  # the audit shows what the service said the target is
                refusal.details["target"] = target.to_dict()
            raise refusal
        return decision

    def spend_approval(self, authorization: Authorization, args_digest: str, now: datetime) -> None:
        """Use the approval once (a second use anywhere is a ``replay``); no-op for reads."""
        if authorization.approval is not None:
            self.ledger.use_approval(authorization.approval.approval_id, args_digest, now)

    @staticmethod
    def _check_sender(request: ToolRequest, sender_id: str | None) -> None:
        session = session_name_from_sender_id(sender_id)
        if session is not None and not session_name_matches(session, request.task_id):
            raise SenderMismatchError(
                f"the message was sent by role session {session!r}, not by task {request.task_id}'s",
                details={"session": session[:64]},
            )

    def _consume_reservation(self, request: ToolRequest) -> Reservation:
        reservation = self.ledger.get_reservation(request.reservation_id)
        mismatched = [
            name
            for name, expected, actual in (
                ("task_id", request.task_id, reservation.task_id),
                ("tool", request.tool, reservation.tool),
                ("args_digest", request.args_digest, reservation.args_digest or request.args_digest),
            )
            if expected != actual
        ]
        if reservation.kind != "tool" or mismatched:
            # Checked before consuming, so a message for another call cannot burn this reservation.
            raise ReservationStateError(
                f"reservation {reservation.reservation_id} was not made for this call",
                details={"reservation_id": reservation.reservation_id, "mismatched": mismatched},
            )
        return self.ledger.consume(request.reservation_id)

    def _approval(self, request: ToolRequest, tool: Tool, now: datetime) -> ApprovalRecord:
        if request.approval_id is None:
            raise ApprovalRequiredError(
                f"{tool.name} is a {tool.effect} call and the request carries no approval",
                details={"tool": tool.name, "effect": tool.effect},
            )
        approval = self.ledger.get_approval(request.approval_id)
        check_approval(
            approval,
            task_id=request.task_id,
            agent_id=request.agent_id,
            tool=request.tool,
            args_digest=request.args_digest,
            now=now,
            excluded_approvers=self.excluded_approvers,
        )
        return approval

    def resolve_target(
        self, tool: Tool, args: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> TargetResolution | None:
        """The tags of the resource ``tool`` acts on, read from the service (``None``: no target)."""
        spec = tool.target
        if spec is None:
            return None
        target_id = str(args.get(spec.id_argument, ""))
        resolver = self.gate.catalog.get(spec.resolve_with)
        if resolver is None:
            return TargetResolution(target_id, None, None)
        try:
            response = self.transport.send(
                ServiceRequest.for_tool(
                    resolver, {spec.id_argument: args.get(spec.id_argument)}, headers or {}
                )
            )
        except AgentcageError:  # unreachable or invalid id: unknown, which fails closed
            return TargetResolution(target_id, None, None)
        tags = (
            response.body.get(spec.tags_field) if response.ok and isinstance(response.body, Mapping) else None
        )
        if not isinstance(tags, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in tags.items()
        ):
            return TargetResolution(target_id, None, response.status)
        return TargetResolution(target_id, dict(tags), response.status)
