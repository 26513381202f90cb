"""The governance gate again, on receipt in AWS, before anything executes (defense in depth).

The coordinator already ran the gate; the executor trusts none of it. Two phases.

**Verify** (:func:`verify_request`): is this message the coordinator's at all? Every check compares a
claim of the message with the ledger, the only authority:

1. the SQS ``SenderId`` is a session of the bridge role, and that session is the envelope's task
   (``sender_mismatch``): the role's unique id (``AROA...``) must be the one infra gives in
   ``AGENTCAGE_BRIDGE_ROLE_ID`` (:data:`~agentcage.constants.BRIDGE_ROLE_ID_ENV`), so a session of any
   other role (a Lambda's, a person's) named like a task is refused; a sender that is not a role
   session (an IAM user) is never a task's bridge. Infra always sets the variable (and the queue policy
   lets only the bridge role send); where it is unset (in-process tests) any role's session named
   after the task passes this check;
2. the reservation exists and was made for this task, tool and argument digest, for the task's
   agent, and for this request's message id when it records one (``reservation_not_found``,
   ``reservation_state``): a request carrying a dispatched call's reservation under another message
   id is not that call (:func:`check_reservation` says what happens to reservations made before);
3. the task's agent in the ledger is the envelope's ``agent_id`` (``sender_mismatch``): the task's agent
   is the principal Cedar judges and the agent an approval must name, never the message's claim;
4. the requester the envelope carries is the task's in the ledger (:func:`verify_requester`,
   ``sender_mismatch``): Cedar caps the call by the ledger's requester, and a message that speaks for
   someone else is not the coordinator's.

One function verifies (:func:`verify_claims`), whatever holds the claims: a valid envelope
(:func:`verify_request`), or the fields a body that is no valid envelope claims
(:func:`verify_claimed_body`: the malformed-request answer and the dead-letters drain).

A message that fails to verify is NOT answered: its claimed message id may be a pending call's (the
ids are shown by ``GET /api/tasks/{id}``), and an answer under it would be the coordinator's result for
that call. The executor logs it, counts it (``ToolDenials`` with the code) and leaves it on the queue,
which dead-letters it after its max receives; the dead-letters Lambda verifies it the same way.

**Check** (:meth:`ExecutionGate.check`), each step refusing with the error-tree exception whose ``code``
becomes the ToolResult's ``denied`` reason (answered: the message is bound to a real reservation):

1. the request's times are sane: ``issued_at`` at most :data:`CLOCK_SKEW_SECONDS` ahead of this clock,
   and a lifetime (``expires_at - issued_at``) and expiry within the reservation's, which the
   coordinator made with its reservation TTL setting and copied into the envelope
   (``invalid_envelope``); the request has not expired (``envelope_expired``);
2. the task is not finished (``task_finished``);
3. the reservation is consumed now, once (``reservation_state``, and ``replay`` for a second delivery);
4. a write or destructive call carries an approval that is approved, for this task, its agent, tool and
   exact arguments, unexpired, unused, and not decided by the agent (``approval_required``,
   ``approval_*``, ``self_approval``);
5. the target's tags are resolved from the service itself (the tool's ``x-agentcage-target``), never
   taken from the message, and Cedar decides with them (``policy_denied``, ``approval_required``, ...).

The time bounds live here and not in the envelope's validation: a bound on ``issued_at`` needs a
clock, and a parser must not accept a message at one time and refuse it later; and the authority on
a request's lifetime is the reservation in the ledger, which only the receipt check reads (a fixed
bound in the envelope would duplicate the coordinator's TTL setting and refuse genuine requests of a
deployment that raised it).

The approval is spent (ledger ``use_approval``, a conditional write) by :meth:`ExecutionGate.spend_approval`
just before the call, after the circuit admitted it, so an open circuit does not burn an approval.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from agentcage.approvals import check_approval
from agentcage.constants import BRIDGE_ROLE_ID_ENV, COORDINATOR_PRINCIPAL_ID_ENV, ENVIRONMENT_ENV
from agentcage.envelopes import RequesterClaim
from agentcage.errors import (
    AgentcageError,
    ApprovalMismatchError,
    ApprovalRequiredError,
    ConflictError,
    EnvelopeError,
    EnvelopeExpiredError,
    GovernanceError,
    InvalidInputError,
    NotFoundError,
    ReservationNotFoundError,
    ReservationStateError,
    SenderMismatchError,
    TaskFinishedError,
    TaskNotFoundError,
    UnknownToolError,
)
from agentcage.federation import role_id_from_sender_id, session_name_from_sender_id, session_name_matches
from agentcage.policy import is_production_environment
from agentcage.policy.tags import reported_tags, target_id_of
from agentcage.transport import ServiceRequest, ServiceTransport

if TYPE_CHECKING:
    from agentcage.budget.breaker import CircuitRecord
    from agentcage.envelopes import ToolRequest
    from agentcage.gate import GateDecision, GovernanceGate
    from agentcage.ledger import ApprovalRecord, Ledger, Requester, Reservation, TaskRecord
    from agentcage.tools import Tool

__all__ = [
    "CLOCK_SKEW_SECONDS",
    "UNVERIFIED",
    "Authorization",
    "Claims",
    "ExecutionGate",
    "TargetResolution",
    "Verified",
    "check_approval_agent",
    "check_reservation",
    "check_times",
    "verify_claimed_body",
    "verify_claims",
    "verify_request",
    "verify_requester",
    "verify_reservation",
    "verify_role_sender",
    "verify_sender",
]

CLOCK_SKEW_SECONDS: Final = 300
"""How far ahead of the executor's clock a request's ``issued_at`` may be: the coordinator stamps it
with Azure's clock, the executor reads it with AWS's. Five minutes, the skew Kerberos and SigV4 allow."""


UNVERIFIED: Final = (NotFoundError, ConflictError, GovernanceError, InvalidInputError)
"""What verification raises when a message is not what it claims (anything else: the ledger failed)."""


@dataclass(frozen=True, slots=True)
class Claims:
    """What a tool request claims about itself that the ledger can confirm or refute."""

    task_id: str
    tool: str
    reservation_id: str
    args_digest: str | None
    agent_id: str
    message_id: str | None = None
    """The request's message id (``None``: a body that names none)."""

    @classmethod
    def of_request(cls, request: ToolRequest) -> Claims:
        """The claims of a valid envelope."""
        return cls(
            request.task_id,
            request.tool,
            request.reservation_id,
            request.args_digest,
            request.agent_id,
            request.message_id,
        )

    @classmethod
    def of_body(cls, body: object) -> Claims | None:
        """The claims of a body that is no valid envelope, when it makes every one as a string."""
        if not isinstance(body, str):
            return None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        names = ("task_id", "tool", "reservation_id", "args_digest", "agent_id")
        values = [data.get(name) for name in names]
        if not all(isinstance(value, str) for value in values):
            return None
        task_id, tool, reservation_id, args_digest, agent_id = (str(value) for value in values)
        message_id = data.get("message_id")
        return cls(
            task_id,
            tool,
            reservation_id,
            args_digest,
            agent_id,
            message_id if isinstance(message_id, str) else None,
        )


@dataclass(frozen=True, slots=True)
class Verified:
    """A request shown by the ledger to be the coordinator's: its task and the reservation it carries."""

    task: TaskRecord
    reservation: Reservation
    approval: ApprovalRecord | None = None
    """The approval the request names, as read with them (``None``: none named, or not found)."""
    circuit: CircuitRecord | None = None
    """The tool's circuit as read with them (``None``: not read)."""
    audit_seq: int | None = None
    """The number of the task's last audit event when they were read."""


def verify_role_sender(sender_id: str | None, roles: Collection[str], *, sender: str) -> str:
    """The one sender rule of every queue the AWS side reads: an SQS ``SenderId`` must be a session of
    one of the roles ``roles`` (unique ids, ``AROA...``; any role when empty, as in in-process tests),
    never an IAM user's send. Returns the session's name; raises :class:`SenderMismatchError`
    naming ``sender``, what the message should have come from, otherwise."""
    session = session_name_from_sender_id(sender_id)
    sender_role = role_id_from_sender_id(sender_id)
    if session is None or sender_role is None:
        raise SenderMismatchError(
            f"the message was not sent by a role session (SenderId {str(sender_id)[:64]!r}), so not by "
            f"{sender}",
            details={"sender_id": str(sender_id)[:64]},
        )
    if roles and sender_role not in roles:
        raise SenderMismatchError(
            f"the message was sent by a session of role {sender_role[:32]!r}, not of {sender}'s role",
            details={"sender_role": sender_role[:32]},
        )
    return session


def verify_sender(sender_id: str | None, task_id: str, *, role_id: str | None = None) -> None:
    """The SQS ``SenderId`` must be the bridge role's session named after ``task_id``, or raise.

    ``role_id`` is the bridge role's unique id (argument, then ``AGENTCAGE_BRIDGE_ROLE_ID``); when
    neither gives one, the session name alone is checked.
    """
    expected_role = role_id or (os.environ.get(BRIDGE_ROLE_ID_ENV) or "").strip() or None
    roles = (expected_role,) if expected_role else ()
    session = verify_role_sender(sender_id, roles, sender=f"task {task_id}'s bridge")
    if not session_name_matches(session, task_id):
        raise SenderMismatchError(
            f"the message was sent by role session {session!r}, not by task {task_id}'s",
            details={"session": session[:64]},
        )


def verify_reservation(
    ledger: Ledger,
    *,
    reservation_id: str,
    task_id: str,
    tool: str,
    args_digest: str | None,
    message_id: str | None = None,
) -> Reservation:
    """The tool reservation ``reservation_id``, made for this task, tool and digest; raises otherwise."""
    return check_reservation(
        ledger.get_reservation(reservation_id),
        task_id=task_id,
        tool=tool,
        args_digest=args_digest,
        message_id=message_id,
    )


def check_reservation(
    reservation: Reservation,
    *,
    task_id: str,
    tool: str,
    args_digest: str | None,
    message_id: str | None = None,
) -> Reservation:
    """``reservation``, if it is a tool reservation made for this task, tool and digest, naming its
    agent, and (when it records one) for the request ``message_id``; raises otherwise.

    A tool reservation without an argument digest or an agent was never made for a dispatched call
    (the coordinator records both at every dispatch, and had for several deployments before this
    check, so a reservation in flight across the deploy has them). One without a request id was made
    before reservations recorded it: accepted, it lives at most the reservation TTL (300 s by default)
    after the deploy, and then can no longer be consumed.
    """
    mismatched = [
        name
        for name, expected, actual in (
            ("task_id", task_id, reservation.task_id),
            ("tool", tool, reservation.tool),
            ("args_digest", args_digest, reservation.args_digest),
            ("request_id", message_id, reservation.request_id or message_id),
        )
        if expected != actual
    ]
    mismatched += [name for name in ("args_digest", "agent_id") if getattr(reservation, name) is None]
    if reservation.kind != "tool" or mismatched:
        raise ReservationStateError(
            f"reservation {reservation.reservation_id} was not made for this call",
            details={"reservation_id": reservation.reservation_id, "mismatched": mismatched},
        )
    return reservation


def verify_claims(
    ledger: Ledger,
    claims: Claims,
    sender_id: str | None,
    *,
    approval_id: str | None = None,
    circuit_of: str | None = None,
) -> Verified:
    """That a message making ``claims`` is the coordinator's (the module docstring's *verify*): its
    sender, its reservation and its agent; raises one of :data:`UNVERIFIED` when it is not.

    The task, the reservation, the approval ``approval_id`` and the circuit of tool ``circuit_of`` are
    read in one request (:meth:`~agentcage.ledger.Ledger.call_records`); the last two ride along in
    :class:`Verified` for the checks after it.
    """
    verify_sender(sender_id, claims.task_id)
    records = ledger.call_records(
        claims.task_id, reservation_id=claims.reservation_id, approval_id=approval_id, tool=circuit_of
    )
    if records.reservation is None:
        raise ReservationNotFoundError(f"no reservation {claims.reservation_id!r}")
    reservation = check_reservation(
        records.reservation,
        task_id=claims.task_id,
        tool=claims.tool,
        args_digest=claims.args_digest,
        message_id=claims.message_id,
    )
    task = records.task
    if task is None:
        raise TaskNotFoundError(f"no task {claims.task_id!r}", details={"task_id": claims.task_id})
    if claims.agent_id != task.agent_id:
        raise SenderMismatchError(
            f"the message speaks for agent {claims.agent_id!r}; task {task.task_id} is {task.agent_id!r}'s",
            details={"claimed_agent": claims.agent_id[:64], "task_agent": task.agent_id},
        )
    if reservation.agent_id != task.agent_id:
        raise ReservationStateError(
            f"reservation {reservation.reservation_id} was made for agent {reservation.agent_id!r}, "
            f"not task {task.task_id}'s {task.agent_id!r}",
            details={"reservation_id": reservation.reservation_id, "mismatched": ["agent_id"]},
        )
    return Verified(task, reservation, records.approval, records.circuit, records.audit_seq)


def verify_requester(claimed: RequesterClaim | None, task: TaskRecord) -> None:
    """The envelope's requester must be the ledger's for its task (both absent for a task made before
    requesters were recorded); :class:`SenderMismatchError` otherwise, like any claim that does not verify."""
    recorded = RequesterClaim.of(task.requester)
    if claimed != recorded:
        raise SenderMismatchError(
            f"the message speaks for requester {claimed.id if claimed else None!r}; task {task.task_id} "
            f"runs for {recorded.id if recorded else None!r}",
            details={
                "claimed_requester": claimed.id[:64] if claimed else None,
                "task_requester": recorded.id if recorded else None,
            },
        )


def verify_request(
    ledger: Ledger, request: ToolRequest, sender_id: str | None, *, circuit_of: str | None = None
) -> Verified:
    """That ``request`` is the coordinator's (:func:`verify_claims` on its claims, then its requester);
    raises when not. Its approval, and the circuit of ``circuit_of``, are read with it."""
    verified = verify_claims(
        ledger, Claims.of_request(request), sender_id, approval_id=request.approval_id, circuit_of=circuit_of
    )
    verify_requester(request.requester, verified.task)
    return verified


def verify_claimed_body(ledger: Ledger, body: object, sender_id: str | None) -> Verified | None:
    """What a body that is no valid envelope claims, verified like a request; ``None`` when it makes
    too few claims or they do not verify (a ledger that cannot be read raises)."""
    claims = Claims.of_body(body)
    if claims is None:
        return None
    try:
        return verify_claims(ledger, claims, sender_id)
    except UNVERIFIED:
        return None


def check_approval_agent(approval: ApprovalRecord, agent_id: str) -> None:
    """The approval must have been asked for by the task's agent (``agent_id``, verified against the task)."""
    if approval.agent_id != agent_id:
        raise ApprovalMismatchError(
            f"approval {approval.approval_id} was asked for by agent {approval.agent_id!r}, not {agent_id!r}",
            details={"approval_id": approval.approval_id},
        )


def check_times(request: ToolRequest, reservation: Reservation, now: datetime) -> None:
    """Refuse a request issued in the future, living longer than its reservation, or expired."""
    times = {"issued_at": request.issued_at.isoformat(), "expires_at": request.expires_at.isoformat()}
    if request.issued_at > now + timedelta(seconds=CLOCK_SKEW_SECONDS):
        raise EnvelopeError(
            f"tool request {request.message_id} was issued at {times['issued_at']}, more than "
            f"{CLOCK_SKEW_SECONDS} s after now",
            details=times,
        )
    lifetime = request.expires_at - request.issued_at
    allowed = reservation.expires_at - reservation.created_at
    if lifetime > allowed or request.expires_at > reservation.expires_at:
        raise EnvelopeError(
            f"tool request {request.message_id} claims to live {lifetime.total_seconds():g} s, until "
            f"{times['expires_at']}; its reservation allows {allowed.total_seconds():g} s, until "
            f"{reservation.expires_at.isoformat()}",
            details={**times, "reservation_expires_at": reservation.expires_at.isoformat()},
        )
    if request.is_expired(now):
        raise EnvelopeExpiredError(
            f"tool request {request.message_id} expired at {times['expires_at']}",
            details={"expires_at": times["expires_at"]},
        )


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

    @property
    def policy_version(self) -> str:
        """The version of the policy set this gate decides with: the one an approval must bind."""
        return self.gate.policy.version

    def verify(self, request: ToolRequest, *, sender_id: str | None) -> Verified:
        """That the message is the coordinator's (:func:`verify_request`); never answered when not."""
        known = self.gate.catalog.get(request.tool) is not None  # only a known tool's circuit is read
        return verify_request(self.ledger, request, sender_id, circuit_of=request.tool if known else None)

    def check(
        self,
        request: ToolRequest,
        verified: Verified,
        *,
        now: datetime,
        headers: Mapping[str, str] | None = None,
    ) -> Authorization:
        """Every check before execution of a verified request; raises the refusing :class:`AgentcageError`.

        ``headers`` go on the target-resolving read (the trace carriers).
        """
        check_times(request, verified.reservation, now)
        task = verified.task
        if task.state.is_final:
            raise TaskFinishedError(
                f"task {task.task_id} is {task.state.value}; its tool calls no longer run",
                details={"state": task.state.value},
            )
        environment = self.environment_of(task)
        reservation = self.ledger.consume(request.reservation_id, seen=verified.reservation)
        tool = self.gate.catalog.get(request.tool)
        if tool is None:
            raise UnknownToolError(f"no tool named {request.tool!r}", details={"tool": request.tool})
        approval = (
            self._approval(request, tool, now, seen=verified.approval, requester=task.requester)
            if tool.effect != "read"
            else None
        )
        target = self.resolve_target(tool, request.args, headers or {})
        decision = self.decide(
            request, environment=environment, approval=approval, target=target, requester=task.requester
        )
        return Authorization(tool, reservation, decision, environment, approval, target)

    def environment_of(self, task: TaskRecord) -> str:
        """The environment a call of ``task`` is judged in: the deployment's, else the task's; and
        production whenever the task says production, whatever the deployment says."""
        if is_production_environment(task.environment):
            return task.environment
        return self.environment or task.environment

    def decide(
        self,
        request: ToolRequest,
        *,
        environment: str,
        approval: ApprovalRecord | None,
        target: TargetResolution | None,
        requester: Requester | None = None,
    ) -> GateDecision:
        """Cedar's decision on the request with what was verified here (``requester``: the ledger's
        task's, never the message's); raises the refusal if denied."""
        decision = self.gate.evaluate(
            request.agent_id,
            request.tool,
            request.args,
            environment=environment,
            target_tags=target.tags if target is not None else None,
            approved=approval is not None,
            approver_roles=tuple(approval.approver_roles) if approval is not None else (),
            requester=requester,
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

    def _approval(
        self,
        request: ToolRequest,
        tool: Tool,
        now: datetime,
        *,
        seen: ApprovalRecord | None = None,
        requester: Requester | None = None,
    ) -> ApprovalRecord:
        approval_id = self.require_approval_id(request, tool)
        # As read with the reservation (its single use is still spent by a conditional write).
        approval = (
            seen
            if seen is not None and seen.approval_id == approval_id
            else self.ledger.get_approval(approval_id)
        )
        self.check_request_approval(approval, request, now=now, requester=requester)
        return approval

    def require_approval_id(self, request: ToolRequest, tool: Tool) -> str:
        """The approval a write or destructive call carries; :class:`ApprovalRequiredError` when none."""
        if request.approval_id is None:
            raise ApprovalRequiredError(
                f"{tool.name} is a {tool.effect} call and the request carries no approval",
                details={"tool": tool.name, "effect": tool.effect},
            )
        return request.approval_id

    def check_request_approval(
        self,
        approval: ApprovalRecord,
        request: ToolRequest,
        *,
        now: datetime,
        requester: Requester | None,
    ) -> None:
        """That ``approval`` authorises the (verified) ``request`` at ``now``: asked for by its task's
        agent, approved for this task, tool and digest under this gate's policy set, unexpired, unused,
        and decided by neither the agent's side nor the task's ``requester`` (the ledger's); raises."""
        check_approval_agent(approval, request.agent_id)
        check_approval(
            approval,
            task_id=request.task_id,
            agent_id=request.agent_id,
            tool=request.tool,
            args_digest=request.args_digest,
            now=now,
            # Four eyes: the person on whose behalf the agent acts (the ledger's, not the envelope's)
            # never approves their own call, as the coordinator refuses when the decision is made.
            excluded_approvers=(*self.excluded_approvers, *((requester.id,) if requester else ())),
            policy_version=self.policy_version,
        )

    def resolve_target(
        self, tool: Tool, args: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> TargetResolution | None:
        """The tags of the resource ``tool`` acts on, read from the service (``None``: no target)."""
        spec = tool.target
        if spec is None:
            return None
        # Typed by the functions the coordinator reads targets with: one rule for known and unknown.
        target_id = target_id_of(args, spec.id_argument)
        resolver = self.gate.catalog.get(spec.resolve_with)
        if target_id is None or resolver is None:
            return TargetResolution(target_id or "", None, None)
        try:
            response = self.transport.send(
                ServiceRequest.for_tool(resolver, {spec.id_argument: target_id}, headers or {})
            )
        except AgentcageError:  # unreachable or invalid id: unknown, which fails closed
            return TargetResolution(target_id, None, None)
        tags = reported_tags(response.body, spec.tags_field) if response.ok else None
        return TargetResolution(target_id, tags, response.status)
