"""Lambda ``dead-letters``: the end of the AWS message path, where every dead letter the ledger vouches
for gets an outcome.

SQS moves a message to its queue's dead-letter queue after the queue's max receives
(:mod:`agentcage.topology`); this Lambda consumes both DLQs, so the task a dead letter belongs to is
never left waiting for a message that will never come. A dead letter's claims are an unknown sender's
until the ledger confirms them, exactly as the executor verifies a request on receipt: anyone with send
rights on a queue can put a message there, naming any task and any pending call's message id.

* ``tool-requests-dlq``: the request must verify as the coordinator's
  (:func:`~functions.aws.executor.checks.verify_request`: its SQS ``SenderId`` is its task's role
  session, its reservation exists for that task, tool and argument digest, its ``agent_id`` is the
  task's). Then the coordinator is sent a ``ToolResult`` with status ``error`` and code
  ``dead_lettered`` through the results queue, kept in the ledger first like every executor answer
  (the coordinator records only kept answers), unless the executor ran the call and kept its answer
  before it could not send it: then that answer is sent, as the executor itself would on a retry. The
  message id is the one every answer to that request carries, so the coordinator records the first
  answer only. The error says the call did not run only when nothing can run it any more: the drain
  first releases the request's reservation (a conditional write on an active, unconsumed one), so a
  second copy of the request reaching the executor finds it spent and executes nothing. Once the
  reservation was consumed (or a recovery claimed), it says the outcome is unknown, so the model does
  not ask for a refund again under a new approval. What is sent is what the ledger keeps for the
  reservation (an executor's answer kept meanwhile wins). The dead letter is audited on the task.
* ``tool-results-dlq``: the result must have been sent by a session of a role that sends results (its
  SQS ``SenderId`` names the executor's role or this drain's: ``AGENTCAGE_RESULT_SENDER_ROLE_IDS``,
  :data:`~agentcage.constants.RESULT_SENDER_ROLE_IDS_ENV`, which infra takes from the role resources;
  unset, as in in-process tests, any role session passes), and be, envelope for envelope, an answer
  the executor kept in the ledger (the same ids are not enough). Then the bridge could not deliver
  it to Service Bus on any delivery, so the coordinator will never hear it: the task ends ``failed``
  with the reason, directly in the ledger (DynamoDB is reachable from here), and the dead letter is
  audited; a result the coordinator had recorded after all (a send reported failed that did arrive)
  is only audited.

A request body that is not a valid envelope ends its task ``failed`` (the envelope error as the
reason) only when the task, tool, argument digest, reservation and agent it names verify the same
way. A dead letter that does not verify (its sender included), or names nothing the ledger knows, is
never turned into an answer or a task failure: it is logged with its body and counted, then completed
(outcome ``unverified``); kept in the DLQ it would only come back, unverifiable, every visibility
timeout for 14 days. It is counted under the names the Function App counts its own with
(:mod:`agentcage.monitoring_names`): ``UnreadableMessages`` when its body is no envelope,
``UnvouchedMessages`` otherwise, each with the DLQ as its ``reason``; both are alarmed on.

A failure to record an outcome (the ledger or the results queue unreachable) is a batch item failure,
so the message comes back after the DLQ's visibility timeout. A child task failed here is not
reported to its parent (that takes the coordinator, which is what cannot be reached): the parent's
own step or approval expiry moves it on.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from agentcage.constants import (
    LOG_LEVEL_ENV,
    METRIC_DEAD_LETTERS_LEFT,
    METRIC_DEAD_LETTERS_RECEIVED,
    METRICS_NAMESPACE,
    RESULT_SENDER_ROLE_IDS_ENV,
    TOOL_REQUESTS_QUEUE,
    TOOL_RESULTS_QUEUE,
)
from agentcage.errors import (
    AgentcageError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    ReservationStateError,
    SenderMismatchError,
)
from agentcage.monitoring_names import (
    METRIC_DIMENSION_REASON,
    METRIC_UNREADABLE_MESSAGES,
    METRIC_UNVOUCHED_MESSAGES,
)
from agentcage.topology import dead_letter_queue

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from agentcage.envelopes import ToolRequest, ToolResult
    from agentcage.ledger import Ledger
    from functions.aws.executor import ResultPublisher

__all__ = [
    "DEAD_LETTERED",
    "Outcome",
    "SERVICE",
    "handle_record",
    "handler",
    "ledger",
    "logger",
    "metrics",
    "process_batch",
    "publisher",
    "tracer",
    "verify_result_sender",
]

SERVICE = "dead_letters"
DEAD_LETTERED: Final = "dead_lettered"
"""The error code of the answer to a dead-lettered request, and the audit event of every dead letter."""

Outcome = Literal[
    "answered", "resent_stored", "task_failed", "already_recorded", "already_ended", "unverified"
]


_METRIC_OF: Final[dict[str, str]] = {
    "answered": "DeadLetteredRequestsAnswered",
    "resent_stored": "DeadLetteredRequestsResent",
    "task_failed": "DeadLettersFailedTask",
    "already_recorded": "DeadLettersAlreadyRecorded",
    "already_ended": "DeadLettersTaskAlreadyEnded",
    "unverified": METRIC_UNVOUCHED_MESSAGES,  # UnreadableMessages when the body is no envelope
}

logger = Logger(service=SERVICE, level=os.environ.get(LOG_LEVEL_ENV))
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


@functools.cache
def ledger() -> Ledger:
    """The container's ledger (``AGENTCAGE_LEDGER_BACKEND`` / ``AGENTCAGE_LEDGER_TABLE``), opened once."""
    from agentcage.ledger import open_ledger

    return open_ledger()


@functools.cache
def publisher() -> ResultPublisher:
    """The container's results-queue sender (``AGENTCAGE_TOOL_RESULTS_QUEUE_URL``), made on first use."""
    from functions.aws.executor import SqsResultPublisher

    return SqsResultPublisher()


def _source(record: Mapping[str, Any]) -> str:
    """The work queue a record was dead-lettered from (by its DLQ's name, prefix or not)."""
    arn = str(record.get("eventSourceARN") or "")
    queue_name = arn.rpartition(":")[2]
    for work_queue in (TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE):
        dlq = dead_letter_queue(work_queue).name
        if queue_name == dlq or queue_name.endswith(f"-{dlq}"):
            return work_queue
    raise InvalidInputError(
        f"{queue_name or 'an unnamed queue'} is not a dead-letter queue this Lambda drains"
    )


def _facts(record: Mapping[str, Any], source: str) -> dict[str, Any]:
    attributes = record.get("attributes") if isinstance(record.get("attributes"), Mapping) else {}
    return {
        "queue": dead_letter_queue(source).name,
        "sqs_message_id": record.get("messageId"),
        "receive_count": attributes.get("ApproximateReceiveCount") if attributes else None,
    }


def handle_record(
    record: Mapping[str, Any],
    *,
    store: Ledger,
    results: ResultPublisher,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Outcome:
    """Record the outcome of one dead letter; raises when it cannot (the record stays in the DLQ)."""
    from agentcage.envelopes import ToolRequest, ToolResult, parse_envelope
    from agentcage.trace import bound_context, set_powertools_correlation

    source = _source(record)
    body = record.get("body")
    text = body if isinstance(body, str) else ""
    model: type[ToolRequest] | type[ToolResult] = ToolRequest if source == TOOL_REQUESTS_QUEUE else ToolResult
    try:
        envelope = parse_envelope(model, text or b"\xff")
    except AgentcageError as error:
        return _unreadable(record, source, error, store)
    with bound_context(trace=envelope.trace, task_id=envelope.task_id, step=envelope.step):
        set_powertools_correlation(logger)
        if isinstance(envelope, ToolRequest):
            return _dead_request(record, envelope, store, results, now)
        return _dead_result(record, envelope, store)


def _dead_request(
    record: Mapping[str, Any],
    request: ToolRequest,
    store: Ledger,
    results: ResultPublisher,
    now: Callable[[], datetime],
) -> Outcome:
    """Answer a request the executor failed on every delivery (its stored result, or dead_lettered)."""
    from agentcage.envelopes import ToolError, ToolResult
    from agentcage.ledger.answers import keep_answer
    from functions.aws.executor import deliverable, find_stored_result, result_message_id
    from functions.aws.executor.checks import UNVERIFIED, verify_request

    try:
        verify_request(store, request, _sender_id(record))
    except UNVERIFIED as unverified:
        return _unverified(record, TOOL_REQUESTS_QUEUE, unverified)
    stored = find_stored_result(store, request)
    outcome: Outcome
    if stored is not None:
        answer, outcome = stored, "resent_stored"
    else:
        message = f"the executor could not process this call of {request.tool} on any of its deliveries; " + (
            "it was dead-lettered and did not run"
            if _stopped_before_running(store, request)
            else "it was dead-lettered after it was started, so whether it ran is unknown: check its "
            "effect before asking for it again"
        )
        made = deliverable(
            ToolResult(
                message_id=result_message_id(request.message_id, request.reservation_id),
                request_id=request.message_id,
                task_id=request.task_id,
                step=request.step,
                tool=request.tool,
                status="error",
                error=ToolError(code=DEAD_LETTERED, message=message),
                traceparent=request.trace.child().traceparent,
                completed_at=now(),
            )
        )
        # The coordinator records only what the ledger holds, so what is sent is what is kept: this
        # answer, or one an executor kept meanwhile for the reservation (under whichever request id).
        answer = keep_answer(
            store,
            made,
            reservation_id=request.reservation_id,
            trace_id=made.trace.trace_id,
            agent_id=request.agent_id,
        )
        outcome = "answered" if answer == made else "resent_stored"
    results.publish(answer)
    data = {
        **_facts(record, TOOL_REQUESTS_QUEUE),
        "request_id": request.message_id,
        "tool": request.tool,
        "reservation_id": request.reservation_id,
        "answer": answer.summary(),
        "outcome": outcome,
    }
    _audit(store, request.task_id, data, step=request.step, agent_id=request.agent_id)
    logger.warning("dead-lettered tool request answered", extra=data)
    return outcome


def _stopped_before_running(store: Ledger, request: ToolRequest) -> bool:
    """Whether the request did not run and now never will: only then may its answer say "did not run".

    The reservation is released first (a conditional write that needs it still active and never
    consumed), so no other copy of the request can consume it afterwards: the executor consumes it right
    before the call, and a released reservation is refused there (``reservation_state``). When it could
    not be released, it did not run only if nothing ever consumed it and nothing ever can: the ledger's
    own rule (:func:`~agentcage.ledger.rules.check_consumable`) refuses it -- it is no longer active, or
    still active but past its expiry. A recovery claim means an attempt started, whatever the
    reservation says.
    Otherwise "did not run" could be followed by the call running, or make the model ask for it again (a
    second refund under a new approval).
    """
    from agentcage.ledger import ClaimScope
    from agentcage.ledger.rules import check_consumable

    try:
        store.release(request.reservation_id)
    except ReservationStateError:  # consumed, settled, expired or released, or refused while active
        reservation = store.get_reservation(request.reservation_id)
        if reservation.consumed_at is not None:
            return False
        try:
            check_consumable(reservation, store.now())
        except ReservationStateError:
            pass  # never consumed, and now never can be (inactive, or active past its expiry)
        else:
            return False  # still consumable: another copy of the request may yet run it
    return store.get_claim(request.task_id, ClaimScope.RECOVERY, request.reservation_id) is None


def result_sender_role_ids(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The unique ids of the roles that send tool results (``AGENTCAGE_RESULT_SENDER_ROLE_IDS``)."""
    raw = (os.environ if environ is None else environ).get(RESULT_SENDER_ROLE_IDS_ENV) or ""
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def verify_result_sender(sender_id: str | None, expected: frozenset[str] | None = None) -> None:
    """The SQS ``SenderId`` of a tool result must be a session of a role that sends results, or raise
    :class:`SenderMismatchError`. ``expected`` (argument, then ``AGENTCAGE_RESULT_SENDER_ROLE_IDS``)
    names those roles; when neither names one, any role session passes (never an IAM user's send)."""
    from functions.aws.executor import verify_role_sender

    roles = result_sender_role_ids() if expected is None else expected
    verify_role_sender(sender_id, roles, sender="the executor or the dead-letters drain")


def _dead_result(record: Mapping[str, Any], result: ToolResult, store: Ledger) -> Outcome:
    """End the task of a result Azure can never hear (unless the coordinator recorded it after all)."""
    from agentcage.ledger.answers import kept_answers

    # Who sent it first: a copy of a kept answer put on the results queue by anyone else (the queue
    # policy stops that, but the drain does not rely on one setting) is not the executor's answer.
    try:
        verify_result_sender(_sender_id(record))
    except SenderMismatchError as unattributable:
        return _unverified(record, TOOL_RESULTS_QUEUE, unattributable)
    # The whole envelope, not its ids: the ids of a kept answer are no secret to whoever could read
    # the results queue, and a copy under them with other content must not end the task.
    kept = any(a.result == result for a in kept_answers(store, result.task_id))
    if not kept:
        error = NotFoundError(f"no answer to request {result.request_id} kept in the ledger is this result")
        return _unverified(record, TOOL_RESULTS_QUEUE, error)
    data = {**_facts(record, TOOL_RESULTS_QUEUE), **result.summary()}
    if any(r.request_id == result.request_id for r in store.tool_results(result.task_id)):
        _audit(store, result.task_id, {**data, "outcome": "already_recorded"}, step=result.step)
        logger.info("dead-lettered result was recorded by the coordinator after all", extra=data)
        return "already_recorded"
    reason = (
        f"the result of {result.tool} (request {result.request_id}) could not be delivered to the "
        "coordinator on any attempt; it was dead-lettered"
    )
    outcome = _fail(store, result.task_id, reason, data, step=result.step)
    logger.error("dead-lettered tool result: the task cannot go on", extra={**data, "outcome": outcome})
    return outcome


def _unreadable(record: Mapping[str, Any], source: str, error: AgentcageError, store: Ledger) -> Outcome:
    """A body that is not a valid envelope: end the task it names if the ledger vouches for the
    request (see the module docstring), else leave it for a person."""
    task_id = _verified_claim(record, store) if source == TOOL_REQUESTS_QUEUE else None
    facts = {**_facts(record, source), "error": error.code}
    if task_id is None:
        return _unverified(record, source, error, unreadable=True)
    reason = (
        "a tool request of this task was dead-lettered and cannot be read "
        f"({error.code}: {error.message[:500]})"
    )
    outcome = _fail(store, task_id, reason, facts, step=None)
    logger.error("unreadable dead letter: its task ended", extra={**facts, "outcome": outcome})
    return outcome


def _verified_claim(record: Mapping[str, Any], store: Ledger) -> str | None:
    """The task an unreadable request names, when its claims verify like a request's; else ``None``."""
    from functions.aws.executor.checks import verify_claimed_body

    verified = verify_claimed_body(store, record.get("body"), _sender_id(record))
    return verified.task.task_id if verified is not None else None


_LOGGED_BODY_CHARS: Final = 16 * 1024
"""How much of an unverified dead letter's body its log line keeps (the record for a person)."""


def _unverified(
    record: Mapping[str, Any], source: str, error: AgentcageError, *, unreadable: bool = False
) -> Outcome:
    """A dead letter whose claims the ledger does not confirm: logged with its body (the record a
    person reads) and counted (``UnreadableMessages`` for a body that is no envelope, else
    ``UnvouchedMessages``, the DLQ as the ``reason``), then completed, unanswered and ending no task.
    Left in the DLQ it would come back every visibility timeout for the queue's 14 days of retention,
    thousands of invocations that can never verify it."""
    from agentcage.budget.metrics import EmfMetricsSink

    body = record.get("body")
    EmfMetricsSink(METRICS_NAMESPACE, service=SERVICE).emit(
        METRIC_UNREADABLE_MESSAGES if unreadable else METRIC_UNVOUCHED_MESSAGES,
        "Count",
        1,
        {METRIC_DIMENSION_REASON: dead_letter_queue(source).name},
    )
    logger.error(
        "dead letter does not verify against the ledger; removed unanswered: %s",
        error.message,
        extra={
            **_facts(record, source),
            "error": error.code,
            "sender_id": str(_sender_id(record))[:128],
            "body": body[:_LOGGED_BODY_CHARS] if isinstance(body, str) else None,
        },
    )
    return "unverified"


def _fail(store: Ledger, task_id: str, reason: str, data: Mapping[str, Any], *, step: int | None) -> Outcome:
    """End the task ``failed`` (as ``Coordinator.fail_task`` does) and audit the dead letter."""
    from agentcage.ledger import TaskState

    task = store.get_task(task_id)
    outcome: Outcome = "already_ended"
    if not task.state.is_final:
        try:
            store.transition(
                task_id, TaskState.FAILED, reason=reason, error={"code": DEAD_LETTERED, "message": reason}
            )
            outcome = "task_failed"
        except InvalidTransitionError:  # it ended meanwhile: that outcome stands
            pass
    _audit(store, task_id, {**data, "reason": reason, "outcome": outcome}, step=step, agent_id=task.agent_id)
    return outcome


def _audit(
    store: Ledger, task_id: str, data: Mapping[str, Any], *, step: int | None, agent_id: str | None = None
) -> None:
    from agentcage.trace import current_context

    store.append_audit(
        task_id, DEAD_LETTERED, data, trace_id=current_context().trace_id, step=step, agent_id=agent_id
    )


def _sender_id(record: Mapping[str, Any]) -> str | None:
    attributes = record.get("attributes")
    sender = attributes.get("SenderId") if isinstance(attributes, Mapping) else None
    return sender if isinstance(sender, str) else None


def record_handler(
    record: SQSRecord, store: Ledger | None = None, results: ResultPublisher | None = None
) -> str:
    """Handle one record (Powertools' record handler); returns its outcome."""
    with tracer.provider.in_subsegment("## dead_letter") as subsegment:
        outcome = handle_record(record.raw_event, store=store or ledger(), results=results or publisher())
        subsegment.put_annotation("outcome", outcome)
        if outcome != "unverified":  # counted by _unverified, per DLQ and by why
            metrics.add_metric(name=_METRIC_OF[outcome], unit=MetricUnit.Count, value=1)
        return outcome


def process_batch(
    event: dict[str, Any],
    context: LambdaContext | None = None,
    *,
    store: Ledger | None = None,
    results: ResultPublisher | None = None,
) -> PartialItemFailureResponse:
    """Handle a Lambda SQS event from the DLQs with partial-batch responses (ledger, sender injectable)."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    records = event.get("Records") if isinstance(event, dict) else None
    metrics.add_metric(name=METRIC_DEAD_LETTERS_RECEIVED, unit=MetricUnit.Count, value=len(records or ()))
    response = process_partial_response(
        event=event,
        record_handler=functools.partial(record_handler, store=store, results=results),
        processor=processor,
        context=context,
    )
    failed = len(response.get("batchItemFailures", []))
    if failed:
        metrics.add_metric(name=METRIC_DEAD_LETTERS_LEFT, unit=MetricUnit.Count, value=failed)
    return response


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Lambda entry point (``functions.aws.dead_letters.handler``)."""
    return process_batch(event, context)
