"""The executor's CloudWatch metrics (EMF, namespace ``agentcage``), one dimension set per tool.

A batch holds calls of several tools, and an EMF document carries one dimension set, so each figure
is emitted as its own document with Powertools' ``single_metric`` (the module-level ``Metrics`` of
the handler keeps the batch-level figures). Names: ``ToolCalls``, ``ToolLatency`` (ms),
``ToolDenials`` (dimensions ``tool`` and ``reason``) and ``BreakerTrips``.
"""

from __future__ import annotations

from typing import Final, Protocol

__all__ = ["METRIC_NAMESPACE", "PowertoolsToolMetrics", "ToolMetrics"]

METRIC_NAMESPACE: Final = "agentcage"


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

    def _emit(self, name: str, unit: str, value: float, **dimensions: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(
            name=name,
            unit=MetricUnit(unit),
            value=value,
            namespace=self.namespace,
            default_dimensions={"service": self.service},
        ) as metric:
            for key, dimension in dimensions.items():
                metric.add_dimension(name=key, value=dimension)

    def tool_call(self, tool: str, latency_ms: float, *, ok: bool) -> None:
        """``ToolCalls`` (dimension ``tool``, ``outcome``) and ``ToolLatency`` in milliseconds."""
        self._emit("ToolCalls", "Count", 1, tool=tool, outcome="ok" if ok else "error")
        self._emit("ToolLatency", "Milliseconds", round(latency_ms, 3), tool=tool)

    def denial(self, tool: str, reason: str) -> None:
        """``ToolDenials`` with the reason as a dimension."""
        self._emit("ToolDenials", "Count", 1, tool=tool, reason=reason)

    def breaker_trip(self, tool: str) -> None:
        """``BreakerTrips``."""
        self._emit("BreakerTrips", "Count", 1, tool=tool)
