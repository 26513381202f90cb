"""The budget guard's metrics become OpenTelemetry counters (AppMetrics in the cloud)."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agentcage.monitoring_names import METRIC_BREAKER_TRIPS, METRIC_TOKENS_USED
from agentcage.telemetry import OpenTelemetryMetricsSink


def test_each_emit_adds_to_a_counter_with_its_dimensions_as_attributes() -> None:
    reader = InMemoryMetricReader()
    sink = OpenTelemetryMetricsSink(MeterProvider(metric_readers=[reader]))

    sink.emit(METRIC_TOKENS_USED, "Count", 120, {})
    sink.emit(METRIC_TOKENS_USED, "Count", 30, {})
    sink.emit(METRIC_BREAKER_TRIPS, "Count", 1, {"reason": "loop_detected", "tool": "getCustomer"})

    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: [(p.value, dict(p.attributes or {})) for p in metric.data.data_points]
        for rm in data.resource_metrics
        for scope in rm.scope_metrics
        for metric in scope.metrics
    }
    # the SDK lower-cases instrument names (hence in~ in the KQL)
    assert points[METRIC_TOKENS_USED.lower()] == [(150, {})]
    assert points[METRIC_BREAKER_TRIPS.lower()] == [(1, {"reason": "loop_detected", "tool": "getCustomer"})]
