"""The executor's CloudWatch metrics (EMF), with the names of :mod:`agentcage.constants`.

A batch holds calls of several tools, and an EMF document carries one dimension set, so each figure
is emitted as its own document (:class:`agentcage.budget.EmfMetricsSink`; the module-level
``Metrics`` of the handler keeps the batch-level figures). Names: ``ToolCalls`` (dimensions ``tool``
and ``outcome``), ``ToolLatency`` (ms), ``ToolDenials`` (``tool`` and ``reason``) and
``BreakerTrips`` (``tool`` and ``reason`` = ``circuit_open``), the names the dashboard charts.
"""

from __future__ import annotations

from typing import Final, Protocol

from agentcage.budget.metrics import EmfMetricsSink
from agentcage.constants import (
    METRIC_BREAKER_TRIPS,
    METRIC_DIMENSION_REASON,
    METRIC_DIMENSION_TOOL,
    METRIC_TOOL_CALLS,
    METRIC_TOOL_DENIALS,
    METRIC_TOOL_LATENCY,
    METRICS_NAMESPACE,
)
from agentcage.errors import CircuitOpenError

__all__ = ["METRIC_NAMESPACE", "PowertoolsToolMetrics", "ToolMetrics"]

METRIC_NAMESPACE: Final = METRICS_NAMESPACE


class ToolMetrics(Protocol):
    """What the executor reports per tool."""

    def tool_call(self, tool: str, latency_ms: float, *, ok: bool) -> None:
        """One call that reached the data service, and how long it took."""

    def denial(self, tool: str, reason: str) -> None:
        """One request refused before it executed; ``reason`` is the error code."""

    def breaker_trip(self, tool: str) -> None:
        """This call's failure opened the tool's circuit."""


class PowertoolsToolMetrics:
    """:class:`ToolMetrics` as EMF documents on stdout (CloudWatch turns them into metrics)."""

    def __init__(self, namespace: str = METRIC_NAMESPACE, *, service: str = "tool_executor") -> None:
        self.namespace = namespace
        self.service = service
        self._sink = EmfMetricsSink(namespace, service=service)

    def tool_call(self, tool: str, latency_ms: float, *, ok: bool) -> None:
        """``ToolCalls`` (dimension ``tool``, ``outcome``) and ``ToolLatency`` in milliseconds."""
        self._sink.emit(
            METRIC_TOOL_CALLS, "Count", 1, {METRIC_DIMENSION_TOOL: tool, "outcome": "ok" if ok else "error"}
        )
        self._sink.emit(
            METRIC_TOOL_LATENCY, "Milliseconds", round(latency_ms, 3), {METRIC_DIMENSION_TOOL: tool}
        )

    def denial(self, tool: str, reason: str) -> None:
        """``ToolDenials`` with the reason as a dimension."""
        self._sink.emit(
            METRIC_TOOL_DENIALS, "Count", 1, {METRIC_DIMENSION_TOOL: tool, METRIC_DIMENSION_REASON: reason}
        )

    def breaker_trip(self, tool: str) -> None:
        """``BreakerTrips`` with reason ``circuit_open`` (the budget guard's trips carry theirs)."""
        self._sink.emit(
            METRIC_BREAKER_TRIPS,
            "Count",
            1,
            {METRIC_DIMENSION_TOOL: tool, METRIC_DIMENSION_REASON: CircuitOpenError.code},
        )
