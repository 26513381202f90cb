"""OpenTelemetry GenAI spans in the task's trace, exported to Application Insights when configured."""

from agentcage.telemetry.setup import APPINSIGHTS_CONNECTION_STRING_ENV, configure_telemetry
from agentcage.telemetry.spans import agent_span, chat_span, record_usage, tool_span

__all__ = [
    "configure_telemetry",
    "APPINSIGHTS_CONNECTION_STRING_ENV",
    "agent_span",
    "chat_span",
    "tool_span",
    "record_usage",
]
