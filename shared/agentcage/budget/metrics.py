"""Where the budget layer's metrics go: a small sink protocol and its CloudWatch (EMF) implementation.

The names and dimensions are the ones in :mod:`agentcage.constants` (``METRIC_*``), which the
dashboards and alarms chart too. Each figure carries its own dimensions (a breaker trip its
``reason``, and its ``tool`` when it has one), so :class:`EmfMetricsSink` writes one EMF document per
figure with Powertools' ``single_metric`` rather than sharing a batch's dimension set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from agentcage.constants import METRICS_NAMESPACE

__all__ = ["EmfMetricsSink", "MetricsSink"]


class MetricsSink(Protocol):
    """Where metrics go: one value of metric ``name`` with its own dimensions."""

    def emit(self, name: str, unit: str, value: float, dimensions: Mapping[str, str]) -> None:
        """Record one value of metric ``name`` (``unit`` is a CloudWatch unit: Count, Milliseconds)."""


class EmfMetricsSink:
    """:class:`MetricsSink` as CloudWatch Embedded Metric Format documents on stdout (Lambda turns
    them into metrics); every document carries the ``service`` dimension as well."""

    def __init__(self, namespace: str = METRICS_NAMESPACE, *, service: str) -> None:
        self.namespace = namespace
        self.service = service

    def emit(self, name: str, unit: str, value: float, dimensions: Mapping[str, str]) -> None:
        """Write one EMF document for ``name`` with ``dimensions``."""
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
