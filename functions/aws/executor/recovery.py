"""A tool call whose first attempt died after consuming its reservation is executed once more, if safe.

The executor consumes a request's reservation (consume-once, the proof the message was authorised)
and only then calls the data service; every answer is stored before it is sent
(:mod:`~functions.aws.executor.sent`). If the process dies in between (a Lambda timeout, a crash,
``kill -9`` locally), SQS delivers the request again and finds the reservation consumed and no
result stored. Without this module that delivery is answered ``denied: replay`` and an approved call
(a refund) is silently never made. The rule, for a consumed reservation with no stored result:

* consumed LESS than the executor's lease ago: another delivery of the request may still be running
  (SQS delivers at least once). It executes nothing and answers nothing: it raises
  :class:`~agentcage.errors.RetryLaterError`, so the record stays on the queue and comes back after
  the visibility timeout, when the first delivery's result is stored (and is re-sent) or the first
  attempt is certainly dead (and is recovered). Answering ``replay`` here could reach the coordinator
  before the first delivery's real result, which it would then ignore as a duplicate.
* consumed MORE than the lease ago: the first attempt is certainly dead, because the lease is the
  executor Lambda's own timeout (:mod:`functions.aws.manifest`, ``tool-executor``) plus
  :data:`LEASE_MARGIN_SECONDS` for clock skew; no invocation outlives its timeout. It is RECOVERED:
  every check after the reservation runs again, and the call is executed exactly once more, but only
  where executing again is safe: a read, or a write/destructive tool in :data:`RETRY_SAFE` (the
  refunds service's idempotency key makes a second ``createRefund`` return the first refund; the
  volumes service deletes a volume once and answers 404 after, which is reported as it is: the
  service's own answer is authoritative). Any other write is answered ``replay`` with its outcome
  stated unknown: executing it blindly twice is worse than asking a person. (Every write and
  destructive tool of today's catalog is in :data:`RETRY_SAFE`; a test keeps it so.)

The recovery is claimed once per RESERVATION, with the ledger's once-only claim
(:attr:`~agentcage.ledger.claims.ClaimScope.RECOVERY`, keyed by the reservation id, leased for the
executor's lease), taken right before the call (a reservation pays for one call, whatever message ids
carry it). Of two deliveries that both find the attempt dead (an SQS duplicate, or two messages for one
request), only one wins the claim and executes. The other must not answer ``replay`` at once: the winner
may still be running, and a ``denied`` published under the same result message id could reach the
coordinator first, which keeps the first result per request. So the loser is handed the winner's claim
and reads its age: LESS than the lease ago, it raises :class:`~agentcage.errors.RetryLaterError` (it
stays queued and, next time, finds the winner's stored result and re-sends it); claimed MORE than the
lease ago, the recovery itself died, and only then is it answered ``replay``. The same holds when the
loser fails to spend an approval the winner spent first. The audit log gets a ``tool_recovered`` event
with the reason. The approval was spent by the first attempt (single use), so it is not spent again;
instead it must be the one this request carries, approved for this task, tool and argument digest by
someone other than the agent, valid when it was spent, and spent after this request's reservation was
made. If the first attempt died before spending it, it is spent now.

The lease comes from, in order: the ``lease_seconds`` argument, ``AGENTCAGE_EXECUTOR_LEASE_SECONDS``
(the local runtime sets its retry delay, at least ``EXECUTOR_LEASE_FLOOR_S`` of
:mod:`agentcage.local.config`: its broker does not deduplicate, a repeated approval re-sends a request),
then the manifest's timeout plus the margin. In the cloud a crashed attempt's message comes back after
the queue's visibility timeout (180 s), well past the 45 s lease and before the request expires (300 s).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from agentcage.constants import EXECUTOR_LEASE_SECONDS_ENV
from agentcage.errors import (
    ConfigurationError,
    EnvelopeExpiredError,
    NotFoundError,
    ReplayError,
    RetryLaterError,
    UnknownToolError,
)
from agentcage.ledger import ClaimScope, ReservationStatus
from functions.aws.executor.checks import Authorization
from functions.aws.executor.sent import resend_stored
from functions.aws.manifest import lambda_spec

if TYPE_CHECKING:
    from agentcage.envelopes import ToolRequest
    from agentcage.ledger import ApprovalRecord, Claim, Ledger, Reservation, TaskRecord
    from agentcage.tools import Tool
    from agentcage.trace import TraceContext
    from functions.aws.executor.checks import ExecutionGate
    from functions.aws.executor.logger import ExecutorLogger
    from functions.aws.executor.sent import StoredResult

__all__ = [
    "LEASE_MARGIN_SECONDS",
    "RECOVERED_EVENT",
    "RETRY_SAFE",
    "CrashRecovery",
    "Recovery",
    "executor_lease_seconds",
]

LEASE_MARGIN_SECONDS: Final = 15
"""Added to the executor's timeout: clock skew between Lambdas, and the time to write the consume."""
RECOVERED_EVENT: Final = "tool_recovered"
"""The audit event of a recovery (written before the second call)."""
RETRY_SAFE: Final[Mapping[str, str]] = MappingProxyType(
    {
        "createRefund": "the refunds service's idempotency key (X-Agentcage-Approval-Id + "
        "X-Agentcage-Args-Digest) makes a second call return the first refund",
        "deleteVolume": "the volumes service deletes a volume once: a volume already gone (its read "
        "answers 404) is reported not found and not deleted again",
    }
)
"""Write and destructive tools that may be executed again after a crash, and why it is safe."""
_READ_SAFETY: Final = "a read: executing it again changes nothing"


def executor_lease_seconds(
    lease_seconds: float | None = None, environ: Mapping[str, str] | None = None
) -> float:
    """The lease: the argument, else ``AGENTCAGE_EXECUTOR_LEASE_SECONDS``, else timeout + margin."""
    env = os.environ if environ is None else environ
    raw: str | float | None = (
        lease_seconds if lease_seconds is not None else env.get(EXECUTOR_LEASE_SECONDS_ENV)
    )
    if raw is None or raw == "":
        return float(lambda_spec("tool-executor").timeout_seconds + LEASE_MARGIN_SECONDS)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(
            f"{EXECUTOR_LEASE_SECONDS_ENV} must be a number of seconds >= 0, not {raw!r}",
            details={"name": EXECUTOR_LEASE_SECONDS_ENV},
        )
    return value


@dataclass(frozen=True, slots=True)
class Recovery:
    """A crashed attempt that may be executed once more, and why."""

    authorization: Authorization
    consumed_at: datetime
    age_seconds: float
    lease_seconds: float
    retry_safety: str
    approval_spent: bool
    """The first attempt already spent the approval: it is not spent again."""

    def audit_data(self, request: ToolRequest) -> dict[str, Any]:
        """The ``tool_recovered`` event: what is recovered and why it is safe."""
        approval = self.authorization.approval
        return {
            "request_id": request.message_id,
            "reservation_id": request.reservation_id,
            "tool": request.tool,
            "reason": (
                f"the reservation was consumed {self.age_seconds:.1f} s ago, past the executor's lease "
                f"of {self.lease_seconds:g} s, and no result was stored: the first attempt died"
            ),
            "consumed_at": self.consumed_at.isoformat(),
            "retry_safety": self.retry_safety,
            "approval_id": approval.approval_id if approval is not None else None,
            "approval_spent_by_first_attempt": self.approval_spent,
        }


class CrashRecovery:
    """Decides and claims the recovery of a replayed request (the rule of the module docstring)."""

    def __init__(
        self,
        gate: ExecutionGate,
        *,
        lease_seconds: float | None = None,
        retry_safe: Mapping[str, str] = RETRY_SAFE,
    ) -> None:
        self.gate = gate
        self.lease_seconds = executor_lease_seconds(lease_seconds)
        self.retry_safe = retry_safe

    @property
    def ledger(self) -> Ledger:
        """The ledger the gate checks against."""
        return self.gate.ledger

    def replayed(
        self,
        request: ToolRequest,
        refusal: ReplayError | EnvelopeExpiredError,
        *,
        now: datetime,
        headers: Mapping[str, str],
        trace: TraceContext,
        log: ExecutorLogger,
    ) -> Recovery | StoredResult:
        """A request refused on receipt as a replay (or a late retry, expired): the stored result of its
        reservation when it is this request's (:func:`~functions.aws.executor.sent.resend_stored`:
        another request's raises :class:`ReplayError`), else ``refusal`` for an expired request, else
        the recovery of a consumed call (:meth:`authorize`)."""
        stored = resend_stored(self.ledger, request, trace, log)
        if stored is not None:
            return stored
        if isinstance(refusal, EnvelopeExpiredError):
            raise refusal
        return self.authorize(request, refusal, now=now, headers=headers)

    def authorize(
        self, request: ToolRequest, refusal: ReplayError, *, now: datetime, headers: Mapping[str, str]
    ) -> Recovery:
        """The recovery of ``request``, refused as ``refusal`` on receipt; raises when there is none.

        Raises ``refusal`` (or a more precise :class:`ReplayError`) when the request is not a crashed
        attempt that may run again, and the gate's own error when a check after the reservation fails.
        """
        reservation = self.ledger.get_reservation(request.reservation_id)
        consumed_at = reservation.consumed_at
        if reservation.status is not ReservationStatus.CONSUMED or consumed_at is None:
            raise refusal  # settled, released or expired: the coordinator has moved on
        age = (now - consumed_at).total_seconds()
        if age < self.lease_seconds:
            raise RetryLaterError(
                f"reservation {reservation.reservation_id} was consumed {max(age, 0):.1f} s ago, within "
                f"the executor's lease of {self.lease_seconds:g} s: another delivery may still be running",
                details=self._details(reservation, age),
            )
        tool = self.gate.gate.catalog.get(request.tool)
        if tool is None:
            raise UnknownToolError(f"no tool named {request.tool!r}", details={"tool": request.tool})
        safety = _READ_SAFETY if tool.effect == "read" else self.retry_safe.get(tool.name)
        if safety is None:
            raise ReplayError(
                f"the attempt of {tool.name} that consumed reservation {reservation.reservation_id} died "
                "before its result was stored; whether it ran is unknown and a "
                f"{tool.effect} call without an idempotency key is not repeated: check it by hand",
                details={**self._details(reservation, age), "recovery": "unsafe"},
            )
        task = self.ledger.get_task(request.task_id)
        approval, spent = (
            self._approval(request, tool, reservation, now, task) if tool.effect != "read" else (None, False)
        )
        environment = self.gate.environment_of(task)
        target = self.gate.resolve_target(tool, request.args, headers)
        if target is not None and target.status == 404:  # the service says it is gone: never act again
            raise NotFoundError(
                f"{target.target_id} no longer exists (the service answered 404): the {tool.name} attempt "
                "that died most likely acted on it already; nothing was executed again",
                details={"target": target.to_dict(), "recovery": "target_gone"},
            )
        decision = self.gate.decide(
            request, environment=environment, approval=approval, target=target, requester=task.requester
        )
        authorization = Authorization(tool, reservation, decision, environment, approval, target)
        return Recovery(authorization, consumed_at, age, self.lease_seconds, safety, spent)

    def claim(self, request: ToolRequest, recovery: Recovery, now: datetime) -> None:
        """Spend the approval if the dead attempt did not, then claim the one recovery of the request's
        reservation (put-if-absent). When another delivery holds the claim (or spent the approval
        first): :class:`RetryLaterError` while that claim is younger than the lease, else
        :class:`ReplayError` (that recovery died too)."""
        if not recovery.approval_spent:
            try:
                self.gate.spend_approval(recovery.authorization, request.args_digest, now)
            except ReplayError as spent:  # spent since authorize(): by a concurrent recovery
                self.check_claim(request, now)
                raise RetryLaterError(  # ... that has not claimed yet: decide on the next delivery
                    f"approval {request.approval_id} was spent by another delivery of this call a moment ago",
                    details={"reservation_id": request.reservation_id, "recovery": "approval_racing"},
                ) from spent
        outcome = self.ledger.claim(
            request.task_id,
            ClaimScope.RECOVERY,
            request.reservation_id,
            claimant=request.message_id,
            payload={"consumed_at": recovery.consumed_at.isoformat()},
            ttl_seconds=self.lease_seconds or None,
        )
        if not outcome.won:
            self._held_by_another(request, outcome.claim, now)

    def check_claim(self, request: ToolRequest, now: datetime) -> None:
        """Raise when another delivery claimed the recovery of the request's reservation: while the
        claim is younger than the lease :class:`RetryLaterError` (it may still be running), after it
        :class:`ReplayError` (it died as well). Returns when there is no claim."""
        holder = self.ledger.get_claim(request.task_id, ClaimScope.RECOVERY, request.reservation_id)
        if holder is not None:
            self._held_by_another(request, holder, now)

    def _held_by_another(self, request: ToolRequest, holder: Claim, now: datetime) -> None:
        age = holder.age_seconds(now)
        details = {
            "reservation_id": request.reservation_id,
            "claimed_by": holder.claimant,
            "claimed_at": holder.claimed_at.isoformat(),
            "age_seconds": round(age, 3),
            "lease_seconds": self.lease_seconds,
            "recovery": "claimed",
        }
        if age < self.lease_seconds:
            raise RetryLaterError(
                f"the recovery of reservation {request.reservation_id} was claimed {max(age, 0):.1f} s ago "
                f"by another delivery, within the executor's lease of {self.lease_seconds:g} s: it may "
                "still be running",
                details=details,
            )
        raise ReplayError(
            f"the crashed attempt of reservation {request.reservation_id} was already recovered once "
            f"({age:.1f} s ago) and that recovery died too; this delivery executes nothing",
            details=details,
        )

    def _approval(
        self, request: ToolRequest, tool: Tool, reservation: Reservation, now: datetime, task: TaskRecord
    ) -> tuple[ApprovalRecord, bool]:
        """The request's approval and whether the first attempt spent it (then it must have been this
        request: bound to its task, tool and digest, and spent after its reservation was made)."""
        approval = self.ledger.get_approval(self.gate.require_approval_id(request, tool))
        used_at = approval.used_at
        if used_at is not None and used_at < reservation.created_at:
            raise ReplayError(
                f"approval {approval.approval_id} was spent before reservation "
                f"{reservation.reservation_id} was made: by another call, not this request",
                details={"approval_id": approval.approval_id, "recovery": "approval_used_elsewhere"},
            )
        # Valid when spent: the first attempt's use is this request's, judged at the time it was made.
        unspent = approval.model_copy(update={"used_at": None}) if used_at is not None else approval
        self.gate.check_request_approval(unspent, request, now=used_at or now, requester=task.requester)
        return approval, used_at is not None

    def _details(self, reservation: Reservation, age: float) -> dict[str, Any]:
        consumed_at = reservation.consumed_at
        return {
            "reservation_id": reservation.reservation_id,
            "consumed_at": consumed_at.isoformat() if consumed_at is not None else None,
            "age_seconds": round(age, 3),
            "lease_seconds": self.lease_seconds,
        }
