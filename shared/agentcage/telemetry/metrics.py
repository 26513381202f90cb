"""The budget layer's metrics in the Function App: OpenTelemetry counters, exported to ``AppMetrics``.

The coordinator settles every model call in Azure, so ``TokensUsed``, ``CostMicroUsd`` and its
``BreakerTrips`` are emitted there (CloudWatch never sees them; the Lambdas use
:class:`agentcage.budget.EmfMetricsSink`). Each instrument is named like its CloudWatch twin
(:mod:`agentcage.monitoring_names`), but the SDK lower-cases instrument names: ``AppMetrics.Name`` is
``tokensused``, so the searches compare with ``in~``. Dimensions become the point's attributes, which
the Azure Monitor exporter writes to ``AppMetrics.Properties``; counters export with delta
temporality, so ``sum(Sum)`` over a time bin is the amount of that bin.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from opentelemetry import metrics as otel_metrics

from agentcage.monitoring_names import METRICS_NAMESPACE

__all__ = ["OpenTelemetryMetricsSink"]

# CloudWatch units (what the sink protocol speaks) as UCUM units (what OpenTelemetry expects).
_UNITS = {"Count": "1", "Milliseconds": "ms", "Seconds": "s", "Bytes": "By"}


class OpenTelemetryMetricsSink:
    """:class:`agentcage.budget.MetricsSink` as OpenTelemetry counters (one per metric name).

    ``meter_provider`` defaults to the global one, which ``configure_telemetry`` sets to export to
    Application Insights (without it the OpenTelemetry API makes this a no-op).
    """

    def __init__(self, meter_provider: otel_metrics.MeterProvider | None = None) -> None:
        provider = meter_provider if meter_provider is not None else otel_metrics.get_meter_provider()
        self._meter = provider.get_meter(METRICS_NAMESPACE)
        self._counters: dict[str, otel_metrics.Counter] = {}
        self._lock = threading.Lock()

    def emit(self, name: str, unit: str, value: float, dimensions: Mapping[str, str]) -> None:
        """Add ``value`` to counter ``name`` with ``dimensions`` as its attributes."""
        with self._lock:
            counter = self._counters.get(name)
            if counter is None:
                counter = self._meter.create_counter(name, unit=_UNITS.get(unit, unit))
                self._counters[name] = counter
        counter.add(value, attributes=dict(dimensions))
