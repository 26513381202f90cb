"""Lambda ``tool-executor``: SQS ``tool-requests`` -> the gate again -> the data service -> ``tool-results``.

Thin by design: Powertools' batch processor calls :func:`record_handler` once per record and reports
the records that raised in ``batchItemFailures`` (one bad record never fails the batch; SQS retries
it and, after the queue's max receives, dead-letters it). The work is :class:`functions.aws.executor.
ToolExecutor`'s, built once per container on first use (nothing heavier than Powertools is imported,
and no SDK client made, at import time: that is the cold start). Metrics go to the ``agentcage``
namespace; each request's trace id is the Logger's correlation id and X-Ray carries ``task_id`` and
``tool`` annotations.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from agentcage.constants import LOG_LEVEL_ENV, METRICS_NAMESPACE

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from functions.aws.executor import ToolExecutor

__all__ = ["executor", "handler", "logger", "metrics", "process_batch", "record_handler", "tracer"]

SERVICE = "tool_executor"

logger = Logger(service=SERVICE, level=os.environ.get(LOG_LEVEL_ENV))
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


@functools.cache
def executor() -> ToolExecutor:
    """The container's executor (gate, ledger, transport, results queue), built on first use."""
    from functions.aws.executor import build_executor

    return build_executor(logger=logger)


def record_handler(record: SQSRecord, tool_executor: ToolExecutor | None = None) -> dict[str, Any]:
    """Process one record; raising leaves it on the queue (a batch item failure)."""
    with tracer.provider.in_subsegment("## tool_request") as subsegment:
        result = (tool_executor or executor()).handle(record.raw_event)
        subsegment.put_annotation("task_id", result.task_id)
        subsegment.put_annotation("tool", result.tool)
        subsegment.put_annotation("status", result.status)
        return result.summary()


def process_batch(
    event: dict[str, Any], context: LambdaContext | None = None, tool_executor: ToolExecutor | None = None
) -> PartialItemFailureResponse:
    """Run a Lambda SQS event through ``tool_executor`` (default: the container's) with partial-batch
    responses; the local runtime calls this with its own executor."""
    # An entirely failed batch is reported item by item too, instead of failing the invocation.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    records = event.get("Records") if isinstance(event, dict) else None
    metrics.add_metric(name="ToolRequestsReceived", unit=MetricUnit.Count, value=len(records or ()))
    return process_partial_response(
        event=event,
        record_handler=functools.partial(record_handler, tool_executor=tool_executor),
        processor=processor,
        context=context,
    )


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Lambda entry point (``functions.aws.tool_executor.handler``)."""
    return process_batch(event, context)
