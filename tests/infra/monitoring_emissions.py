"""What each cloud's code path emits, captured by running it: the other half of the monitoring check.

**AWS**: the Lambdas' own module-level Powertools Logger and Metrics (``functions.aws.tool_executor``,
``dead_letters``, ``ledger_sweeper``) on real SQS-shaped events: a read that runs, a failing vendor
that opens its circuit and is then refused, an unreadable dead letter, a sweep. Their stdout (EMF
documents) and their log lines (JSON) are captured and parsed.

**Azure**: the coordinator (the library's ``Coordinator``, as the Function App builds it) plays three
scripted tasks under the OpenTelemetry pipeline ``configure_telemetry`` sets up (its
``log_record_processors()``, the ``LoggingHandler`` azure-monitor-opentelemetry attaches to the
``agentcage`` logger, the SDK tracer and meter), with in-memory exporters in place of Application
Insights. Every log record, span and metric point is then turned into the envelope Application
Insights ingests by the Azure Monitor exporter's own conversion functions (module-private: they are
the exact mapping, attributes -> ``Properties``, trace id -> ``OperationId``), so the KQL columns are
checked against what the exporter really writes, not against a restatement of its rules.
"""

from __future__ import annotations

import io
import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from agentcage.monitoring_names import (
    KQL_DEPENDENCIES,
    KQL_EXCEPTIONS,
    KQL_METRICS,
    KQL_REQUESTS,
    KQL_TRACES,
)

__all__ = ["AwsEmissions", "AzureEmissions", "AzureRow", "run_aws_lambdas", "run_coordinator"]

# Envelope names (Microsoft.ApplicationInsights.<kind>) -> the workspace table each lands in.
_TABLE_OF_ENVELOPE = {
    "Message": KQL_TRACES,
    "Exception": KQL_EXCEPTIONS,
    "RemoteDependency": KQL_DEPENDENCIES,
    "Request": KQL_REQUESTS,
    "Metric": KQL_METRICS,
}
_NO_TRACE = "0" * 32


@dataclass
class AwsEmissions:
    """What the Lambdas wrote: EMF metrics (namespace -> metric -> dimension names) and log lines."""

    metrics: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(dict))
    log_lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def log_keys(self) -> set[str]:
        """Every key of every JSON log line (Powertools leaves out keys whose value is None)."""
        return {key for line in self.log_lines for key in line}


@dataclass(frozen=True)
class AzureRow:
    """One row Application Insights would store: its table, ``OperationId``, ``Name`` and ``Properties``."""

    table: str
    operation_id: str
    name: str | None
    properties: dict[str, str]


@dataclass
class AzureEmissions:
    """Every row the coordinator's telemetry produced, and the trace id of each task it ran."""

    rows: list[AzureRow] = field(default_factory=list)
    trace_ids: dict[str, str] = field(default_factory=dict)  # task id -> W3C trace id

    def in_tables(self, tables: set[str]) -> list[AzureRow]:
        """The rows of ``tables``."""
        return [row for row in self.rows if row.table in tables]


# --- AWS ------------------------------------------------------------------------------------------------
@contextmanager
def _log_streams(loggers: list[Any], stream: io.StringIO) -> Iterator[None]:
    """Point each Powertools Logger's handler at ``stream`` (it holds the stdout it was made with)."""
    handlers = [logger.registered_handler for logger in loggers]
    previous = [handler.setStream(stream) for handler in handlers]
    try:
        yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)


def run_aws_lambdas() -> AwsEmissions:
    """Run the executor, the dead-letters drain and the sweeper Lambdas; return what they emitted."""
    from functions.aws import dead_letters, ledger_sweeper, tool_executor

    stdout, logs = io.StringIO(), io.StringIO()
    modules = (tool_executor, dead_letters, ledger_sweeper)
    with redirect_stdout(stdout), _log_streams([m.logger for m in modules], logs):
        _run_executor(tool_executor)
        _run_dead_letters(dead_letters)
        from agentcage.ledger import MemoryLedger

        ledger_sweeper.sweep(MemoryLedger())
        for module in modules:
            module.metrics.flush_metrics()
    emissions = AwsEmissions()
    for raw in stdout.getvalue().splitlines() + logs.getvalue().splitlines():
        if not raw.strip().startswith("{"):
            continue
        document = json.loads(raw)
        if "_aws" not in document:
            emissions.log_lines.append(document)
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dimensions = {name for group in directive["Dimensions"] for name in group}
            for metric in directive["Metrics"]:
                emissions.metrics[directive["Namespace"]].setdefault(metric["Name"], set()).update(dimensions)
    return emissions


class _ScriptedServices:
    """The data services as the executor's transport sees them: reads answer, the vendor is down."""

    def send(self, request: Any) -> Any:
        from functions.aws.executor import ServiceResponse

        if request.operation == "negotiateVendorTerms":
            return ServiceResponse(503, None)
        return ServiceResponse(200, {"customer_id": "C-1001", "tier": "gold"})


class _Published:
    """The results queue: keeps what the executor sends."""

    def __init__(self) -> None:
        self.results: list[Any] = []

    def publish(self, result: Any) -> None:
        self.results.append(result)


def _run_executor(tool_executor: Any) -> None:
    from agentcage.gate import GovernanceGate
    from agentcage.ledger import MemoryLedger
    from functions.aws.executor import PowertoolsToolMetrics, build_executor
    from tests.functional.aws.executor.executor_support import (
        BREAKER,
        ExecutorWorld,
        FakeClock,
        batch,
        record_for,
    )

    clock = FakeClock()
    ledger = MemoryLedger(breaker=BREAKER, clock=clock)
    executor = build_executor(
        gate=GovernanceGate.default(),
        ledger=ledger,
        transport=_ScriptedServices(),
        publisher=_Published(),
        metrics=PowertoolsToolMetrics(),
        logger=tool_executor.logger,  # the Lambda's own Logger, as executor() builds it
    )
    world = ExecutorWorld(ledger, clock, None, "", None, None, executor)  # type: ignore[arg-type]
    records = [world.prepare(record_for("sqs_tool_requests_returns", "getCustomer"))]
    vendor = record_for("sqs_tool_request_vendor", "negotiateVendorTerms")
    # Failures up to the threshold open the circuit (a trip); the next request is refused (a denial).
    records += [
        world.prepare(vendor, message_id=f"msg-vendor-{index:03d}")
        for index in range(BREAKER.failure_threshold + 1)
    ]
    for record in records:
        tool_executor.process_batch(batch(record), tool_executor=executor)


def _run_dead_letters(dead_letters: Any) -> None:
    from agentcage.constants import TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE
    from agentcage.ledger import MemoryLedger
    from agentcage.topology import dead_letter_queue

    dlq = dead_letter_queue(TOOL_REQUESTS_QUEUE).name
    record = {
        "messageId": "dlq-1",
        "receiptHandle": "r-1",
        "body": "not an envelope",
        "attributes": {"ApproximateReceiveCount": "5", "SenderId": "AROAEXAMPLE:task"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:eu-west-1:123456789012:agentcage-dev-{dlq}",
        "awsRegion": "eu-west-1",
    }
    # an unreadable body and a result nobody kept (logged and completed: UnreadableMessages and
    # UnvouchedMessages), and a record whose outcome cannot be recorded (it came from a queue this
    # Lambda does not drain): a batch item failure, counted as DeadLettersLeft
    unkept = {
        **record,
        "messageId": "dlq-3",
        "body": _unkept_result(),
        "eventSourceARN": record["eventSourceARN"].replace(dlq, dead_letter_queue(TOOL_RESULTS_QUEUE).name),
    }
    stray = {**record, "messageId": "dlq-2", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:other"}
    dead_letters.process_batch(
        {"Records": [record, unkept, stray]}, store=MemoryLedger(), results=_Published()
    )


def _unkept_result() -> str:
    """A well-formed tool result the ledger holds no answer for."""
    from datetime import UTC, datetime

    from agentcage.envelopes import ToolResult, dump_envelope
    from agentcage.trace import TraceContext

    return dump_envelope(
        ToolResult(
            message_id="result-0",
            request_id="req-0",
            task_id="task-unknown",
            step=1,
            tool="getCustomer",
            status="ok",
            result={},
            traceparent=TraceContext.new().traceparent,
            completed_at=datetime.now(UTC),
        )
    )


# --- Azure ------------------------------------------------------------------------------------------------
@contextmanager
def _sdk_tracing() -> Iterator[Any]:
    """An in-memory exporter on the process's SDK tracer provider (set once per process by the API)."""
    from opentelemetry import trace as otel
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if not isinstance(otel.get_tracer_provider(), TracerProvider):
        otel.set_tracer_provider(TracerProvider())
    provider = otel.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "another test set a non-SDK tracer provider"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        exporter.shutdown()  # stops keeping spans; the processor cannot be removed from the provider


@contextmanager
def _exported_logs() -> Iterator[Any]:
    """The logging pipeline of ``configure_telemetry``, with an in-memory exporter last."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    from agentcage.telemetry import EXPORTED_LOGGER, log_record_processors

    provider = LoggerProvider()
    for processor in log_record_processors():
        provider.add_log_record_processor(processor)
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger(EXPORTED_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield exporter
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        provider.shutdown()


def run_coordinator() -> AzureEmissions:
    """Run a denied call, a runaway vendor and a return exception; return the rows App Insights would hold."""
    from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope
    from azure.monitor.opentelemetry.exporter.export.metrics._exporter import _convert_point_to_envelope
    from azure.monitor.opentelemetry.exporter.export.trace._exporter import _convert_span_to_envelope
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from agentcage.telemetry import OpenTelemetryMetricsSink

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    emissions = AzureEmissions()
    with _sdk_tracing() as spans, _exported_logs() as logs:
        emissions.trace_ids = _play_tasks(OpenTelemetryMetricsSink(meters))
        envelopes = [_convert_log_to_envelope(record) for record in logs.get_finished_logs()]
        envelopes += [_convert_span_to_envelope(span) for span in spans.get_finished_spans()]
    _play_dead_ends(meters)  # its counters only: the log lines of a message naming no task are no task's
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                envelopes += [
                    _convert_point_to_envelope(point, metric.name) for point in metric.data.data_points
                ]
    meters.shutdown()
    for envelope in envelopes:
        base = envelope.data.base_data
        metrics = getattr(base, "metrics", None)
        emissions.rows.append(
            AzureRow(
                table=_TABLE_OF_ENVELOPE[envelope.name.rsplit(".", 1)[-1]],
                operation_id=envelope.tags.get("ai.operation.id", _NO_TRACE),
                name=metrics[0].name if metrics else None,
                properties=dict(base.properties or {}),
            )
        )
    return emissions


def _function_app_module(name: str) -> Any:
    """``functions/azure/<name>.py`` imported on its own under a private name (the host imports it
    top-level from the app folder; a private name keeps this run's module out of everyone else's way)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "functions" / "azure" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_monitoring_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _play_dead_ends(meters: Any) -> None:
    """The Function App's queue adapter on the last delivery of a body that is no envelope and of a
    request the ledger does not vouch for (as the bridge to AWS refuses one): both dead-lettered,
    counted by the adapter's own code, on ``meters`` (its counters are made there instead of on the
    process's global meter provider)."""
    from datetime import UTC, datetime, timedelta

    from azure.functions.servicebus import ServiceBusMessage

    from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE
    from agentcage.coordinator import Outbox
    from agentcage.envelopes import AgentStep, ToolRequest, args_digest, dump_envelope
    from agentcage.errors import AgentcageError, NotFoundError
    from agentcage.monitoring_names import (
        METRIC_UNREADABLE_MESSAGES,
        METRIC_UNVOUCHED_MESSAGES,
        METRICS_NAMESPACE,
    )
    from agentcage.topology import queue_spec
    from agentcage.trace import TraceContext

    adapters = _function_app_module("adapters")
    meter = meters.get_meter(METRICS_NAMESPACE)
    for name in (METRIC_UNREADABLE_MESSAGES, METRIC_UNVOUCHED_MESSAGES):
        adapters._counters[name] = meter.create_counter(name, unit="1")

    def last_delivery(queue: str, body: str) -> Any:
        count = queue_spec(queue, "azure").max_deliveries
        return ServiceBusMessage(
            body=body.encode(),
            message_id="m-dead",
            delivery_count=count,
            application_properties={},
            user_properties={},
        )

    def unvouched(request: ToolRequest) -> None:
        raise NotFoundError(f"no dispatched call was sent as request {request.message_id}")

    now = datetime.now(UTC)
    request = ToolRequest(
        message_id="req-forged",
        task_id="task-forged",
        step=1,
        agent_id="returns-agent",
        tool="getCustomer",
        args={},
        args_digest=args_digest({}),
        reservation_id="res-forged",
        traceparent=TraceContext.new().traceparent,
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
    )
    cases: list[tuple[str, str, type[Any], Any]] = [
        (AGENT_STEPS_QUEUE, "not an envelope", AgentStep, lambda step: None),
        (TOOL_REQUESTS_QUEUE, dump_envelope(request), ToolRequest, unvouched),
    ]
    for queue, body, model, work in cases:
        try:
            adapters.consume(
                last_delivery(queue, body),
                model,
                work,
                lambda outbox: None,
                queue=queue,
                on_last_attempt=lambda envelope, error: Outbox(),
                vouch=lambda envelope: False,
            )
        except AgentcageError:  # raised after counting it, so that Service Bus dead-letters it
            continue
        raise AssertionError(f"the {queue} adapter took a message it must dead-letter")


def _play_tasks(metrics: Any) -> dict[str, str]:
    """Three scripted tasks through the coordinator (an executor double plays AWS); task id -> trace id."""
    from agentcage.coordinator import Coordinator, CoordinatorSettings
    from agentcage.gate import GovernanceGate
    from agentcage.ledger import MemoryLedger
    from agentcage.models import ScriptedModel
    from agentcage.models.base import RetryPolicy
    from agentcage.trace import trace_id_of
    from tests.functional.coordinator.coordinator_support import (
        START,
        Driver,
        FakeClock,
        FakeExecutor,
        budget_config,
    )

    clock = FakeClock(START)
    budget = budget_config()
    ledger = MemoryLedger(breaker=budget.breaker, clock=clock)
    model = ScriptedModel()
    model.retry = RetryPolicy(max_attempts=1)
    coordinator = Coordinator(
        ledger=ledger,
        gate=GovernanceGate.default(),
        model=model,
        settings=CoordinatorSettings(environment="dev", budget=budget),
        metrics=metrics,
    )
    driver = Driver(coordinator, FakeExecutor(ledger))
    tasks = [
        driver.start("hallucinate a lookup of customer C-1001"),  # a call the gate refuses
        driver.start("negotiate terms with vendor V-1042", agent="procurement-agent"),  # trips a breaker
        driver.start("refund order O-50001 for customer C-1001 outside the return window"),
    ]
    return {task_id: str(trace_id_of(ledger.get_task(task_id).traceparent)) for task_id in tasks}
