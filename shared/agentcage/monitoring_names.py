"""Every name a dashboard, alarm, saved query or alert rule reads, and the code writes: one module.

Two sinks, one per cloud, and the names each carries:

- **AWS** (the Lambdas): Powertools Metrics writes EMF documents (metric names and dimensions in the
  ``agentcage`` namespace) and Powertools Logger writes one JSON object per line; CloudWatch
  Logs Insights reads the object's keys as fields.
- **Azure** (the coordinator's Function App): OpenTelemetry to Application Insights. A log record's
  attributes become ``Properties`` of ``AppTraces`` (``customDimensions`` in the classic schema), a
  span's attributes ``Properties`` of ``AppRequests``/``AppDependencies``, its trace id
  ``OperationId``; a metric lands in ``AppMetrics`` (``Name``, ``Sum``, ``Properties``).

The infra components build their queries from these constants, the emitters emit them, and
``tests/infra/test_infra_monitoring_names.py`` runs both clouds' code paths and checks that each name
a deployed query reads was emitted there. Import-light on purpose (no SDK): every artifact imports it.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AWS_METRICS",
    "AZURE_METRICS",
    "EVENT_BREAKER_TRIPPED",
    "EVENT_TOOL_DENIED",
    "KQL_DEPENDENCIES",
    "KQL_EXCEPTIONS",
    "KQL_METRICS",
    "KQL_METRIC_NAME",
    "KQL_METRIC_SUM",
    "KQL_OPERATION_ID",
    "KQL_PROPERTIES",
    "KQL_REQUESTS",
    "KQL_TRACES",
    "LOG_AGENT_ID",
    "LOG_CODE",
    "LOG_EVENT",
    "LOG_LEVEL",
    "LOG_MESSAGE",
    "LOG_STEP",
    "LOG_TASK_ID",
    "LOG_TOOL",
    "LOG_TRACE_ID",
    "METRICS_NAMESPACE",
    "METRIC_BREAKER_TRIPS",
    "METRIC_COST_MICRO_USD",
    "METRIC_DEAD_LETTERS_LEFT",
    "METRIC_DEAD_LETTERS_RECEIVED",
    "METRIC_DIMENSION_REASON",
    "METRIC_DIMENSION_SERVICE",
    "METRIC_DIMENSION_TOOL",
    "METRIC_RESERVATIONS_EXPIRED",
    "METRIC_TOKENS_USED",
    "METRIC_TOOL_CALLS",
    "METRIC_TOOL_DENIALS",
    "METRIC_TOOL_LATENCY",
    "METRIC_UNREADABLE_MESSAGES",
    "METRIC_UNVOUCHED_MESSAGES",
    "SPAN_STEP",
    "SPAN_TASK_ID",
]

# --- metrics: the same names in CloudWatch (EMF) and in Application Insights (OpenTelemetry) ---------
METRICS_NAMESPACE: Final = "agentcage"
METRIC_DIMENSION_TOOL: Final = "tool"
METRIC_DIMENSION_REASON: Final = "reason"
METRIC_DIMENSION_SERVICE: Final = "service"  # Powertools adds it to every EMF document
METRIC_TOOL_CALLS: Final = "ToolCalls"  # Count, per tool and outcome: calls that reached the data service
METRIC_TOOL_DENIALS: Final = "ToolDenials"  # Count, per tool and reason: refused before executing
METRIC_TOOL_LATENCY: Final = "ToolLatency"  # Milliseconds, per tool
METRIC_BREAKER_TRIPS: Final = "BreakerTrips"  # Count, per reason: an error code, e.g. circuit_open
METRIC_TOKENS_USED: Final = "TokensUsed"  # Count: model tokens settled (the coordinator, in Azure)
METRIC_COST_MICRO_USD: Final = "CostMicroUsd"  # Count: micro-dollars of model calls settled (Azure)
METRIC_DEAD_LETTERS_RECEIVED: Final = "DeadLettersReceived"  # Count: messages that failed every retry
METRIC_DEAD_LETTERS_LEFT: Final = "DeadLettersLeft"  # Count: of those, the ones that stay in the DLQ
METRIC_RESERVATIONS_EXPIRED: Final = "ReservationsExpired"  # Count: abandoned reservations swept
# Count, per queue (``reason``): messages removed without an outcome because the body is no envelope, or
# because the ledger does not vouch for it; a forgery, or a bug, each one. In the Function App, last
# deliveries dead-lettered without ending a task, and requests the bridge to AWS refused to forward
# (functions/azure/adapters.py, reason = the Service Bus queue); in AWS, dead letters the dead-letters
# drain logged and removed (functions/aws/dead_letters.py, reason = the DLQ). Both clouds alarm on each.
METRIC_UNREADABLE_MESSAGES: Final = "UnreadableMessages"
METRIC_UNVOUCHED_MESSAGES: Final = "UnvouchedMessages"

AWS_METRICS: Final = (
    METRIC_TOOL_CALLS,
    METRIC_TOOL_DENIALS,
    METRIC_TOOL_LATENCY,
    METRIC_BREAKER_TRIPS,
    METRIC_DEAD_LETTERS_RECEIVED,
    METRIC_DEAD_LETTERS_LEFT,
    METRIC_RESERVATIONS_EXPIRED,
    METRIC_UNREADABLE_MESSAGES,
    METRIC_UNVOUCHED_MESSAGES,
)
"""What the Lambdas emit (executor, dead-letters drain, ledger sweeper): CloudWatch may chart these."""

AZURE_METRICS: Final = (
    METRIC_TOKENS_USED,
    METRIC_COST_MICRO_USD,
    METRIC_BREAKER_TRIPS,
    METRIC_UNREADABLE_MESSAGES,
    METRIC_UNVOUCHED_MESSAGES,
)
"""What the coordinator emits in the Function App (its budget guard, its queue adapters): ``AppMetrics``
may hold these."""

# --- log keys: Powertools JSON keys on AWS, log record attributes (-> Properties) on Azure -------------
# The task fields are the names of agentcage.trace.TaskContext, bound once and put on every line.
LOG_TRACE_ID: Final = "trace_id"  # the W3C trace id, 32 hex digits (the same in both clouds)
LOG_TASK_ID: Final = "task_id"
LOG_STEP: Final = "step"
LOG_AGENT_ID: Final = "agent_id"
LOG_TOOL: Final = "tool"  # the tool a line is about
LOG_CODE: Final = "code"  # an agentcage.errors code: why a call was refused or a breaker tripped
LOG_EVENT: Final = "event"  # what happened, for the lines an alert or a search counts
LOG_LEVEL: Final = "level"  # Powertools' own keys
LOG_MESSAGE: Final = "message"

EVENT_TOOL_DENIED: Final = "tool_denied"  # the gate refused a proposed tool call
EVENT_BREAKER_TRIPPED: Final = "breaker_tripped"  # a task halted: loop, budget, or a circuit kept open

# --- span attributes (besides the GenAI semantic conventions' gen_ai.*) --------------------------------
SPAN_TASK_ID: Final = "agentcage.task_id"
SPAN_STEP: Final = "agentcage.step"

# --- Application Insights, workspace-based: the tables and columns the KQL reads ------------------------
KQL_TRACES: Final = "AppTraces"  # log records
KQL_EXCEPTIONS: Final = "AppExceptions"  # log records with an exception
KQL_REQUESTS: Final = "AppRequests"  # SERVER / CONSUMER spans
KQL_DEPENDENCIES: Final = "AppDependencies"  # INTERNAL / CLIENT spans
KQL_METRICS: Final = "AppMetrics"
KQL_PROPERTIES: Final = "Properties"  # customDimensions: log record and span attributes, metric attributes
KQL_OPERATION_ID: Final = "OperationId"  # the W3C trace id
KQL_METRIC_NAME: Final = "Name"
KQL_METRIC_SUM: Final = "Sum"
