"""Put the bound task context on every log record the Application Insights exporter ships.

A log record's attributes become ``Properties`` of ``AppTraces``, so the saved searches and the alert
rules can filter on ``Properties.task_id`` or ``Properties.trace_id`` only if every record carries
them. The context is added here, in the OpenTelemetry pipeline itself (a ``LogRecordProcessor``
registered before the exporter's), and not with a filter on some handler: it then reaches every
record the exporter sees, from whichever logger, whatever handlers exist. A ``logging`` record
factory would do the same for every handler, but it adds the fields before ``extra=`` is applied and
``Logger.makeRecord`` refuses to overwrite them, so any ``extra={"trace_id": ...}`` would raise.

The processor runs in the thread that logged (the OpenTelemetry ``LoggingHandler`` emits
synchronously), where the context variables of :mod:`agentcage.trace` are bound. A value the caller
passed in ``extra=`` wins; unbound fields are left out (Application Insights drops empty ones). A
record logged outside any span also gets the bound trace id as its own, which the exporter writes
as ``OperationId``: every line of a task is in its trace, not only those logged inside a span.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

from agentcage.monitoring_names import LOG_TRACE_ID
from agentcage.trace import current_context
from agentcage.trace.context import SPAN_ID_KEY

__all__ = ["TaskContextLogProcessor", "task_context_attributes"]


def task_context_attributes() -> dict[str, str | int]:
    """The bound fields of :class:`agentcage.trace.TaskContext` (``trace_id``, ``task_id``...), none empty."""
    return {name: value for name, value in current_context().as_dict().items() if value is not None}


class TaskContextLogProcessor(LogRecordProcessor):
    """Adds :func:`task_context_attributes` to each log record before it is exported."""

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Annotate the record in place (the exporter's processor, registered later, sees the result)."""
        bound = task_context_attributes()
        record = log_record.log_record
        if not record.trace_id and LOG_TRACE_ID in bound:
            # Logged outside any span (a result arriving, an HTTP call): the exporter's OperationId is
            # the record's trace id, so give it the task's, as a span of the task would have.
            record.trace_id = int(str(bound[LOG_TRACE_ID]), 16)
            record.span_id = int(str(bound[SPAN_ID_KEY]), 16) if SPAN_ID_KEY in bound else record.span_id
        attributes = record.attributes
        if isinstance(attributes, MutableMapping):  # the SDK's BoundedAttributes, made mutable for processors
            for name, value in bound.items():
                attributes.setdefault(name, value)
        else:
            record.attributes = {**bound, **(attributes or {})}

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:  # noqa: ARG002 - the interface
        """Nothing is buffered here."""
        return True
