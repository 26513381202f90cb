"""The baseline of ``benchmarks/lambda_cold_start.py``: an SQS Lambda using only Powertools.

Logger, Metrics and BatchProcessor with partial-batch responses, as the tool executor's handler is
wrapped, and a record handler that only parses the body: what any Powertools SQS Lambda pays before
doing its own work. Run from the lambda-core artifact's path, so it imports the same Powertools.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

logger = Logger(service="baseline")
metrics = Metrics(namespace="agentcage-bench", service="baseline")


def record_handler(record: Any) -> str:
    """Parse the record's body (a JSON object) and return its message id."""
    body = json.loads(record.body)
    metrics.add_metric(name="RecordsHandled", unit=MetricUnit.Count, value=1)
    logger.info("record handled", extra={"keys": sorted(body)})
    return str(record.message_id)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> Any:
    """The Lambda entry point."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
