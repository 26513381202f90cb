"""OpenTelemetry GenAI spans, logs with the task context and budget metrics, exported to Application
Insights when configured (the coordinator's side of monitoring; AWS uses Powertools)."""

from agentcage.telemetry.metrics import OpenTelemetryMetricsSink
from agentcage.telemetry.setup import (
    APPINSIGHTS_CONNECTION_STRING_ENV,
    EXPORTED_LOGGER,
    configure_telemetry,
    log_record_processors,
)
from agentcage.telemetry.spans import agent_span, chat_span, record_usage, tool_span

__all__ = [
    "configure_telemetry",
    "log_record_processors",
    "APPINSIGHTS_CONNECTION_STRING_ENV",
    "EXPORTED_LOGGER",
    "OpenTelemetryMetricsSink",
    "agent_span",
    "chat_span",
    "tool_span",
    "record_usage",
]
