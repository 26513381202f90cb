"""Every exported log record carries the bound task context, whatever logger or handler wrote it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from agentcage.telemetry import log_record_processors
from agentcage.trace import TraceContext, bound_context

CTX = TraceContext(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7")


@pytest.fixture
def exported() -> Iterator[InMemoryLogRecordExporter]:
    """The processors of configure_telemetry, then an in-memory exporter, on a child logger's parent."""
    provider = LoggerProvider()
    for processor in log_record_processors():
        provider.add_log_record_processor(processor)
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    parent = logging.getLogger("agentcage.test_log_context")
    parent.addHandler(handler)
    parent.setLevel(logging.INFO)
    yield exporter
    parent.removeHandler(handler)
    provider.shutdown()


def test_a_child_loggers_record_carries_the_bound_task_and_trace(exported: InMemoryLogRecordExporter) -> None:
    # GIVEN a task bound, and a logger created after the exporter's handler was attached
    child = logging.getLogger("agentcage.test_log_context.created_later")

    with bound_context(trace=CTX, task_id="task-1", step=2, agent_id="agent-a"):
        child.info("refused", extra={"tool": "getCustomer", "task_id": "task-from-extra"})
    child.info("outside any task")

    inside, outside = (r.log_record for r in exported.get_finished_logs())
    # THEN the fields are attributes (Application Insights Properties); extra= wins; nothing empty
    expected = {
        "trace_id": CTX.trace_id,
        "span_id": CTX.span_id,
        "task_id": "task-from-extra",
        "step": 2,
        "agent_id": "agent-a",
        "tool": "getCustomer",
    }
    assert {key: (inside.attributes or {}).get(key) for key in expected} == expected
    # AND logged outside any span, the record takes the task's trace id (the exporter's OperationId)
    assert format(inside.trace_id, "032x") == CTX.trace_id
    assert not {"trace_id", "task_id", "step"} & set(outside.attributes or {})
    assert not outside.trace_id
