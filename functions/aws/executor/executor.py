"""One SQS record in, one ToolResult out: parse, verify, re-check, call, inspect, keep, answer.

:meth:`ToolExecutor.handle` is what the Lambda's record handler calls. It returns the ToolResult it
sent, or raises when the record must stay on the queue: a message that does not verify as the
coordinator's (its sender, its reservation, its task's agent: see :mod:`~functions.aws.executor.checks`)
is never answered, because its claimed message id may be another call's; neither is a message that
cannot be answered at all (not JSON, no verified task and reservation to answer to). Both go, after the
queue's max receives, to the dead-letter queue; so does one whose processing failed for a reason that
a retry may cure (the ledger or the results queue did not answer) before anything executed. Every
verified request is answered: refusals as ``denied`` with the reason's code, an open circuit as
``circuit_open``, a service error as ``error``, a success as ``ok`` with the response redacted by the
tool's data classes. Every answer is kept in the ledger before it is sent (the coordinator records only
kept answers); a retry of a request answered before gets that answer again, not ``replay``, so a
result the queue refused is never lost (:mod:`~functions.aws.executor.sent`).
A retry of a request consumed by an attempt that died before answering (older than the executor's
lease) is executed once more where that is safe (:mod:`~functions.aws.executor.recovery`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from agentcage.budget import counts_as_failure
from agentcage.constants import APPROVAL_ID_HEADER, ARGS_DIGEST_HEADER
from agentcage.envelopes import (
    ToolError,
    ToolRequest,
    ToolResult,
    ToolStatus,
    parse_envelope,
)
from agentcage.errors import (
    AgentcageError,
    BudgetError,
    CircuitOpenError,
    ConflictError,
    EnvelopeError,
    EnvelopeExpiredError,
    GovernanceError,
    InvalidInputError,
    NotFoundError,
    ReplayError,
    RetryLaterError,
    TransportError,
)
from agentcage.inspect import find_injection, redact
from agentcage.ledger.answers import keep_answer
from agentcage.ledger.claims import AuditNote
from agentcage.monitoring_names import LOG_TOOL
from agentcage.trace import (
    TraceContext,
    bound_context,
    inject_http,
    set_powertools_correlation,
)
from agentcage.transport import MAX_RESPONSE_BYTES, ServiceRequest, ServiceResponse
from functions.aws.executor.audit_trail import audit_trail, current_trail
from functions.aws.executor.checks import Authorization, ExecutionGate, Verified
from functions.aws.executor.logger import ExecutorLogger
from functions.aws.executor.malformed import answer_malformed, claimed_fields
from functions.aws.executor.recovery import RECOVERED_EVENT, CrashRecovery, Recovery
from functions.aws.executor.results import ResultPublisher, result_message_id
from functions.aws.executor.sent import StoredResult, deliverable, store_result

if TYPE_CHECKING:
    from agentcage.budget import Admission
    from agentcage.budget.breaker import CircuitRecord
    from agentcage.ledger import Ledger
    from agentcage.tools import Tool
    from functions.aws.executor.metrics import ToolMetrics

__all__ = [
    "APPROVAL_ID_HEADER",
    "ARGS_DIGEST_HEADER",
    "REFUSALS",
    "ExecutorLogger",
    "ToolExecutor",
    "circuit_failure",
]

# The refunds service's idempotency key (functions.aws.services.refunds; a test keeps them equal).
# Errors that refuse a request (answered ``denied``); any other error leaves the record for a retry.
REFUSALS: Final = (InvalidInputError, NotFoundError, ConflictError, GovernanceError, BudgetError)


def circuit_failure(tool_egress: bool, response: ServiceResponse | TransportError) -> bool:
    """Whether an outcome counts against the tool's circuit: :func:`agentcage.budget.counts_as_failure`.

    An answer larger than :data:`~agentcage.transport.MAX_RESPONSE_BYTES` is not a failure of the
    service: it answered, and what it answered is content (records a hostile party may have planted),
    not the service's health. Counting it would let such records open the tool's circuit, which is
    shared by every task.
    """
    if isinstance(response, TransportError):
        if _oversized_answer(response):
            return False
        return counts_as_failure(None, egress=tool_egress, timed_out=bool(response.details.get("timeout")))
    return counts_as_failure(response.status, egress=tool_egress, timed_out=False)


def _oversized_answer(error: TransportError) -> bool:
    """Whether the transport refused an answer for its size (:func:`agentcage.transport.decode_body`)."""
    return error.details.get("limit") == MAX_RESPONSE_BYTES and isinstance(error.details.get("size"), int)


class ToolExecutor:
    """Executes tool requests behind the :class:`ExecutionGate`; every dependency is injected.

    ``logger`` is the Lambda's Powertools Logger (its correlation id becomes the W3C trace id of each
    request; one is made when none is given); ``clock`` defaults to the ledger's, so expiry,
    approvals and circuits share one time. ``lease_seconds`` is the recovery lease
    (:func:`~functions.aws.executor.recovery.executor_lease_seconds`).
    """

    def __init__(
        self,
        gate: ExecutionGate,
        publisher: ResultPublisher,
        *,
        metrics: ToolMetrics | None = None,
        logger: ExecutorLogger | None = None,
        clock: Callable[[], datetime] | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        self.gate = gate
        self.recovery = CrashRecovery(gate, lease_seconds=lease_seconds)
        self.publisher = publisher
        self.metrics = metrics
        if logger is None:
            from aws_lambda_powertools import Logger

            logger = Logger(service="tool_executor")
        self.log: ExecutorLogger = logger
        self.clock = clock or gate.ledger.now

    @property
    def ledger(self) -> Ledger:
        """The ledger the gate checks against and the executor records in."""
        return self.gate.ledger

    # --- one record ------------------------------------------------------------------------------
    def handle(self, record: Mapping[str, Any]) -> ToolResult:
        """Process one Lambda SQS record and return the ToolResult that was sent."""
        body = record.get("body")
        attributes = record.get("attributes")
        sender_id = attributes.get("SenderId") if isinstance(attributes, Mapping) else None
        try:
            request = parse_envelope(ToolRequest, body if isinstance(body, str) else b"\xff")
        except EnvelopeError as error:
            return self._malformed(record, error, sender_id)
        trace = request.trace.child()
        with bound_context(
            trace=trace, task_id=request.task_id, step=request.step, agent_id=request.agent_id
        ):
            set_powertools_correlation(self.log)
            self.log.append_keys(**{LOG_TOOL: request.tool})  # the tool column of the saved queries
            with audit_trail():  # the outcome's events are written with the answer
                answer = self._execute(request, trace, sender_id)
                if isinstance(answer, StoredResult):  # answered before: the same envelope again
                    result = answer.result
                else:
                    result = store_result(self.ledger, request, trace, deliverable(answer), self.log)
            self.publisher.publish(result)
            self.log.info("tool request answered", extra={"result": result.summary()})
            return result

    def _execute(
        self, request: ToolRequest, trace: TraceContext, sender_id: str | None
    ) -> ToolResult | StoredResult:
        now = self.clock()
        headers: dict[str, str] = {}
        inject_http(trace, headers)
        verified = self._verified(request, sender_id)
        trail = current_trail()
        if trail is not None:
            trail.last_seq = verified.audit_seq
        checked = self._authorize(request, verified, trace, now, headers)
        if isinstance(checked, ToolResult | StoredResult):
            return checked
        authorization, recovery = checked
        self._audit_target(request, authorization, trace)
        tool = authorization.tool
        # the circuit as read with the reservation: a closed one admits without another request
        admission = self.ledger.circuit_admit(tool.name, now, seen=verified.circuit)
        if not admission.allowed:
            retry_at = admission.retry_at.isoformat() if admission.retry_at else None
            circuit_open = CircuitOpenError(
                f"the circuit of {tool.name} is {admission.state.value}; retry after {retry_at}",
                details={"retry_at": retry_at, "state": admission.state.value},
            )
            return self._refused(request, trace, circuit_open, status="circuit_open")
        try:
            if recovery is None:
                self.gate.spend_approval(authorization, request.args_digest, now)
            else:  # spends unless the dead attempt did; claims last, right before the call
                self.recovery.claim(request, recovery, now)
        except RetryLaterError:  # another delivery holds the recovery: stay queued, answer nothing
            self._give_back_probe(tool.name, admission)
            raise
        except REFUSALS as refusal:
            self._give_back_probe(tool.name, admission)  # never sent: the next caller may probe now
            return self._refused(request, trace, refusal)
        if recovery is not None:
            self.log.warning("request %s: its first attempt died; executed once more", request.message_id)
            self._audit(request, trace, RECOVERED_EVENT, recovery.audit_data(request), required=False)
        if authorization.approval is not None:
            headers[APPROVAL_ID_HEADER] = authorization.approval.approval_id
            headers[ARGS_DIGEST_HEADER] = request.args_digest
        return self._call(
            request,
            trace,
            authorization,
            headers,
            probe=admission.probe,
            recovered=recovery is not None,
            seen_circuit=None if admission.probe else verified.circuit,  # a probe changed the circuit
        )

    def _authorize(
        self,
        request: ToolRequest,
        verified: Verified,
        trace: TraceContext,
        now: datetime,
        headers: dict[str, str],
    ) -> tuple[Authorization, Recovery | None] | ToolResult | StoredResult:
        """The gate's checks on receipt of a verified request (:meth:`_verified`: one that does not
        verify is never answered); a replay is answered as before, or recovered, or refused."""
        try:
            return self.gate.check(request, verified, now=now, headers=headers), None
        except (ReplayError, EnvelopeExpiredError) as refusal:  # answered before? died? still running?
            try:
                replayed = self.recovery.replayed(
                    request, refusal, now=now, headers=headers, trace=trace, log=self.log
                )
            except REFUSALS as denied:
                return self._refused(request, trace, denied)
            return replayed if isinstance(replayed, StoredResult) else (replayed.authorization, replayed)
        except REFUSALS as refusal:
            return self._refused(request, trace, refusal)

    def _verified(self, request: ToolRequest, sender_id: str | None) -> Verified:
        """The request, verified as the coordinator's; else logged, counted and raised, never answered:
        the record stays queued and is dead-lettered after the queue's max receives. Nothing is
        written to the claimed task's audit log: the claims are an unknown sender's."""
        try:
            return self.gate.verify(request, sender_id=sender_id)
        except REFUSALS as unverified:
            known = self.gate.gate.catalog.get(request.tool) is not None
            if self.metrics is not None:  # a known tool's name only: the sender chose this one
                self.metrics.denial(request.tool if known else "unknown", unverified.code)
            self.log.error(  # noqa: TRY400 - a refusal, the traceback adds nothing
                "tool request %s does not verify; not answered, left for the dead-letter queue: %s",
                request.message_id,
                unverified.message,
                extra={"code": unverified.code, "sender_id": str(sender_id)[:128]},
            )
            raise

    def _call(
        self,
        request: ToolRequest,
        trace: TraceContext,
        authorization: Authorization,
        headers: dict[str, str],
        *,
        probe: bool,
        recovered: bool = False,
        seen_circuit: CircuitRecord | None = None,
    ) -> ToolResult:
        tool = authorization.tool
        try:
            response: ServiceResponse | TransportError = self.gate.transport.send(
                ServiceRequest.for_tool(tool, request.args, headers)
            )
        except TransportError as error:
            response = error
        answered = response if isinstance(response, ServiceResponse) else None
        failed = circuit_failure(tool.egress, response)
        tripped = self._record_outcome(tool.name, ok=not failed, seen=seen_circuit)
        if self.metrics is not None:
            latency = answered.latency_ms if answered is not None else 0.0
            self.metrics.tool_call(tool.name, latency, ok=answered is not None and answered.ok)
            if tripped:
                self.metrics.breaker_trip(tool.name)
        result, details = self._inspected(request, trace, tool, response)
        approval = authorization.approval
        details |= {
            "probe": probe,
            "recovered": recovered,
            "circuit_failure": failed,
            "circuit_tripped": tripped,
            "approval_id": approval.approval_id if approval is not None else None,
        }
        self._audit(request, trace, "tool_executed", {**result.summary(), **details}, with_answer=True)
        return result

    def _inspected(
        self,
        request: ToolRequest,
        trace: TraceContext,
        tool: Tool,
        response: ServiceResponse | TransportError,
    ) -> tuple[ToolResult, dict[str, Any]]:
        """The result the model may see (redacted by the tool's data classes; secrets always) and
        what the audit records about it (what was masked, injection markers; never the values)."""
        if isinstance(response, TransportError):
            error = ToolError(code=response.code, message=response.message[:4096])
            return self._result(request, trace, "error", error=error), {"transport_error": response.message}
        redacted, masked = redact(response.body, tool.data_classes)
        details: dict[str, Any] = {
            "http_status": response.status,
            "latency_ms": round(response.latency_ms, 3),
            "redacted": [finding.to_dict() for finding in masked],
        }
        if not response.ok:
            clean = ServiceResponse(response.status, redacted, response.headers, response.latency_ms)
            error = ToolError(code=clean.error_code, message=clean.error_message)
            return self._result(
                request, trace, "error", result={"http_status": response.status}, error=error
            ), details
        injection = [finding.to_dict() for finding in find_injection(redacted)]
        if injection:
            details["injection"] = injection
            self.log.warning("injection markers in the %s result", tool.name, extra={"findings": injection})
        return self._result(request, trace, "ok", result=redacted), details

    # --- refusals and malformed messages ---------------------------------------------------------
    def _refused(
        self,
        request: ToolRequest,
        trace: TraceContext,
        refusal: AgentcageError,
        *,
        status: ToolStatus = "denied",
    ) -> ToolResult:
        reason = refusal.code
        result = self._result(
            request, trace, status, error=ToolError(code=reason, message=refusal.message[:4096])
        )
        if self.metrics is not None:
            self.metrics.denial(request.tool, reason)
        self.log.warning("tool request refused: %s", refusal.message, extra={"code": reason})
        data = {**result.summary(), "message": refusal.message}
        if refusal.details:
            data["details"] = _json_safe(refusal.details)
        kind = "tool_denied" if status == "denied" else "tool_circuit_open"
        self._audit(request, trace, kind, data, with_answer=True)
        return result

    def _malformed(
        self, record: Mapping[str, Any], error: EnvelopeError, sender_id: str | None
    ) -> ToolResult:
        """Answer a malformed request ``denied`` when the ledger shows whose it is (see
        :mod:`~functions.aws.executor.malformed`), keeping the answer first; else raise ``error``."""
        result = answer_malformed(record, error, sender_id=sender_id, now=self.clock(), ledger=self.ledger)
        claimed = claimed_fields(record.get("body")) or {}
        tool = claimed.get("tool")
        known = isinstance(tool, str) and self.gate.gate.catalog.get(tool) is not None
        if self.metrics is not None:
            self.metrics.denial(str(tool) if known else "unknown", error.code)
        if result is None:
            self.log.error(
                "malformed tool request left for the dead-letter queue: %s",
                error.message,
                extra={"code": error.code, "message_id": record.get("messageId")},
            )
            raise error
        reservation_id = str(claimed["reservation_id"])
        with bound_context(trace=result.trace, task_id=result.task_id, step=result.step):
            # answered before (its send failed): the kept answer again
            kept = keep_answer(
                self.ledger, result, reservation_id=reservation_id, trace_id=result.trace.trace_id
            )
            result = kept if kept.request_id == result.request_id else result
            self.log.warning("malformed tool request answered: %s", error.message, extra={"code": error.code})
            self.publisher.publish(result)
        return result

    # --- plumbing ----------------------------------------------------------------------------------
    def _result(
        self,
        request: ToolRequest,
        trace: TraceContext,
        status: ToolStatus,
        *,
        result: Any = None,
        error: ToolError | None = None,
    ) -> ToolResult:
        return ToolResult(
            message_id=result_message_id(request.message_id, request.reservation_id),
            request_id=request.message_id,
            task_id=request.task_id,
            step=request.step,
            tool=request.tool,
            status=status,
            result=result,
            error=error,
            traceparent=trace.traceparent,
            completed_at=self.clock(),
        )

    def _give_back_probe(self, tool: str, admission: Admission) -> None:
        with contextlib.suppress(AgentcageError):  # if the ledger is out, the probe times out instead
            self.ledger.circuit_release_probe(tool, admission)

    def _record_outcome(self, tool: str, *, ok: bool, seen: CircuitRecord | None = None) -> bool:
        try:
            return self.ledger.record_tool_outcome(tool, ok, self.clock(), seen=seen).tripped
        except AgentcageError as error:  # the call ran: its result must still go back
            self.log.error(  # noqa: TRY400 - an expected outage, the traceback adds nothing
                "could not record the outcome of %s: %s", tool, error.message
            )
            return False

    def _audit_target(self, request: ToolRequest, authorization: Authorization, trace: TraceContext) -> None:
        target = authorization.target
        if target is not None:
            self._audit(request, trace, "target_resolved", {"tool": request.tool, **target.to_dict()})

    def _audit(
        self,
        request: ToolRequest,
        trace: TraceContext,
        kind: str,
        data: Mapping[str, Any],
        *,
        required: bool = True,
        with_answer: bool = False,
    ) -> None:
        """Append an audit event; after a call ran (``required=False``) a failure is logged, not raised.

        ``with_answer``: written with the request's answer, in the same ledger request
        (:mod:`~functions.aws.executor.audit_trail`); outside a trail, at once.
        """
        trail = current_trail()
        note = AuditNote(kind, _json_safe(data), trace.trace_id, request.step, request.agent_id)
        if with_answer and trail is not None:
            trail.with_answer.append(note)
            return
        try:
            event = self.ledger.append_audit(
                request.task_id,
                note.kind,
                note.data,
                trace_id=note.trace_id,
                step=note.step,
                agent_id=note.agent_id,
            )
            if trail is not None:
                trail.last_seq = event.seq
        except AgentcageError as error:
            if required:
                raise
            self.log.error(  # noqa: TRY400 - an expected outage, the traceback adds nothing
                "audit event %s not recorded: %s", kind, error.message, extra={"event": _json_safe(data)}
            )


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
