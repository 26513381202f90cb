"""One trace id from the HTTP request through both clouds.

W3C Trace Context (:mod:`.w3c`), its lossless X-Ray form (:mod:`.xray`), carriers for HTTP, SQS and
Service Bus (:mod:`.carriers`), and the current trace/task bound with contextvars (:mod:`.context`).
"""

from agentcage.trace.carriers import (
    extract_http,
    extract_servicebus,
    extract_sqs_record,
    inject_http,
    inject_servicebus,
    sqs_message_attributes,
    sqs_system_attributes,
)
from agentcage.trace.context import (
    ContextLogFilter,
    CorrelatedLogger,
    TaskContext,
    bind_context,
    bound_context,
    current_context,
    reset_context,
    set_powertools_correlation,
)
from agentcage.trace.w3c import (
    TraceContext,
    continue_or_start,
    new_span_id,
    new_trace_id,
    parse_traceparent,
    parse_tracestate,
    trace_id_of,
)
from agentcage.trace.xray import from_xray_header, to_xray_header

__all__ = [
    # W3C trace context
    "TraceContext",
    "parse_traceparent",
    "parse_tracestate",
    "continue_or_start",
    "trace_id_of",
    "new_trace_id",
    "new_span_id",
    # X-Ray
    "to_xray_header",
    "from_xray_header",
    # carriers
    "inject_http",
    "extract_http",
    "sqs_message_attributes",
    "sqs_system_attributes",
    "extract_sqs_record",
    "inject_servicebus",
    "extract_servicebus",
    # bound context and logging
    "TaskContext",
    "bind_context",
    "reset_context",
    "bound_context",
    "current_context",
    "ContextLogFilter",
    "CorrelatedLogger",
    "set_powertools_correlation",
]
