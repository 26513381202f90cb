"""Lambda ``bridge-to-azure``: SQS ``tool-results`` -> the Service Bus ``tool-results`` queue in Azure.

Keyless: the Service Bus sender authenticates with an Entra token obtained by exchanging an
AWS-issued web identity token (``sts:GetWebIdentityToken``, cached until shortly before it expires)
as the client assertion of a federated identity credential (:func:`agentcage.federation.
result_sender_from_config`). Each result keeps its trace: ``traceparent`` and ``Diagnostic-Id``
application properties, from the envelope. A result is never lost: when the send fails, the record
is reported in ``batchItemFailures``, retried by SQS and, after the queue's max receives,
dead-lettered. A record that is not a ToolResult cannot be delivered and takes the same road to the
DLQ, where a person can look at it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from agentcage.constants import LOG_LEVEL_ENV, METRICS_NAMESPACE
from agentcage.errors import EnvelopeError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from agentcage.envelopes import ToolResult
    from agentcage.federation import ServiceBusResultSender

__all__ = ["forward_result", "handler", "logger", "metrics", "process_batch", "result_sender", "tracer"]

SERVICE = "bridge_to_azure"

logger = Logger(service=SERVICE, level=os.environ.get(LOG_LEVEL_ENV))
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


@functools.cache
def result_sender() -> ServiceBusResultSender:
    """The container's sender (web identity token source and Service Bus client), made on first use."""
    from agentcage.federation import result_sender_from_config

    return result_sender_from_config()


def forward_result(record: Mapping[str, Any], sender: ServiceBusResultSender) -> ToolResult:
    """Send the ToolResult in one SQS record to Service Bus; raises when it was not delivered."""
    from agentcage.envelopes import ToolResult, parse_envelope
    from agentcage.trace import bound_context, set_powertools_correlation

    body = record.get("body")
    try:
        result = parse_envelope(ToolResult, body if isinstance(body, str) else b"\xff")
    except EnvelopeError as error:
        logger.error(  # noqa: TRY400 - the envelope error says it all; no traceback needed
            "not a ToolResult, left for the dead-letter queue: %s",
            error.message,
            extra={"code": error.code, "message_id": record.get("messageId")},
        )
        raise
    with bound_context(trace=result.trace, task_id=result.task_id, step=result.step):
        set_powertools_correlation(logger)
        try:
            sender.send_result(result)
        except Exception:
            logger.exception("result not delivered to Service Bus; SQS will retry", extra=result.summary())
            raise
        logger.info("result delivered to Service Bus", extra=result.summary())
    return result


def record_handler(record: SQSRecord, sender: ServiceBusResultSender | None = None) -> str:
    """Forward one record (Powertools' record handler); returns the result's message id."""
    with tracer.provider.in_subsegment("## forward_result") as subsegment:
        result = forward_result(record.raw_event, sender or result_sender())
        subsegment.put_annotation("task_id", result.task_id)
        subsegment.put_annotation("tool", result.tool)
        return result.message_id


def process_batch(
    event: dict[str, Any], context: LambdaContext | None = None, sender: ServiceBusResultSender | None = None
) -> PartialItemFailureResponse:
    """Forward a Lambda SQS event's results with partial-batch responses (``sender`` injectable)."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    records = event.get("Records") if isinstance(event, dict) else None
    metrics.add_metric(name="ResultsReceived", unit=MetricUnit.Count, value=len(records or ()))
    response = process_partial_response(
        event=event,
        record_handler=functools.partial(record_handler, sender=sender),
        processor=processor,
        context=context,
    )
    failed = len(response.get("batchItemFailures", []))
    metrics.add_metric(name="ResultsForwarded", unit=MetricUnit.Count, value=len(records or ()) - failed)
    if failed:
        metrics.add_metric(name="ResultsNotForwarded", unit=MetricUnit.Count, value=failed)
    return response


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Lambda entry point (``functions.aws.bridge_to_azure.handler``)."""
    return process_batch(event, context)
