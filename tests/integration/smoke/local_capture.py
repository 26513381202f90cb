"""Run the smoke's flow driver against the local runtime and keep what the code emitted, for the query checks.

Run as a script in its own interpreter (``python -m tests.integration.smoke.local_capture OUT``): it turns
on the coordinator's real telemetry set-up (:func:`agentcage.telemetry.configure_telemetry`, as the
Function App does) with an unreachable ingestion endpoint and a stand-in credential, adds in-memory
exporters beside Azure Monitor's, and lets the Lambdas' Powertools loggers print JSON to stdout as they
do in Lambda (stdout is what CloudWatch stores). It writes to OUT: the flow's steps and ids, and every
span and log record converted by the Azure Monitor exporter's own conversion into the envelope it would
send, then into the Log Analytics row (``Type``, ``OperationId``, ``Properties``, ...) that envelope
becomes. The parent reads the Lambdas' log lines from this process's stdout.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

# Classic Application Insights envelope types -> the workspace tables they land in.
_TABLES = {
    "RequestData": "AppRequests",
    "RemoteDependencyData": "AppDependencies",
    "MessageData": "AppTraces",
    "ExceptionData": "AppExceptions",
    "EventData": "AppEvents",
}
_UNREACHABLE = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/"
)


class _StandInCredential:
    """A token for the exporter's pipeline; the endpoint is unreachable, so it is never checked."""

    def get_token(self, *scopes: str, **_: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("stand-in", 4_102_444_800)


def workspace_row(envelope: dict[str, Any]) -> dict[str, Any]:
    """The Log Analytics row an Application Insights envelope becomes (workspace-based schema)."""
    tags = envelope.get("tags") or {}
    data = envelope.get("data") or {}
    base = data.get("baseData") or {}
    return {
        "Type": _TABLES.get(str(data.get("baseType")), str(data.get("baseType"))),
        "TimeGenerated": envelope.get("time"),
        "OperationId": tags.get("ai.operation.id"),
        "ParentId": tags.get("ai.operation.parentId"),
        "OperationName": tags.get("ai.operation.name"),
        "Name": base.get("name"),
        "Message": base.get("message"),
        "SeverityLevel": base.get("severityLevel"),
        "Properties": base.get("properties") or {},
    }


def _telemetry() -> tuple[Any, Any]:
    from opentelemetry import _logs as otel_logs
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentcage.telemetry import configure_telemetry

    assert configure_telemetry(connection_string=_UNREACHABLE, credential=_StandInCredential())
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    otel_trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(spans))  # type: ignore[attr-defined]
    otel_logs.get_logger_provider().add_log_record_processor(SimpleLogRecordProcessor(logs))  # type: ignore[attr-defined]
    return spans, logs


def _rows(spans: Any, logs: Any) -> list[dict[str, Any]]:
    from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope
    from azure.monitor.opentelemetry.exporter.export.trace._exporter import _convert_span_to_envelope

    envelopes = [_convert_span_to_envelope(span) for span in spans.get_finished_spans()]
    envelopes += [_convert_log_to_envelope(record) for record in logs.get_finished_logs()]
    return [workspace_row(envelope.as_dict()) for envelope in envelopes]


def main(out: Path) -> None:
    """Play the flow on a fresh local host and write what was emitted to ``out``."""
    from agentcage.local import LocalConfig, running_host
    from infra.smoke.flow import ReturnExceptionFlow
    from infra.smoke.report import SmokeReport

    spans, logs = _telemetry()
    state = Path(tempfile.mkdtemp(prefix="agentcage-smoke-"))
    with running_host(LocalConfig(state_dir=state, port=0, retry_delay_s=0.05)) as host:
        report = SmokeReport()
        result = ReturnExceptionFlow(host.url, timeout_s=60, interval_s=0.05).run(report)
    from opentelemetry import _logs as otel_logs
    from opentelemetry import trace as otel_trace

    otel_trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    otel_logs.get_logger_provider().force_flush()  # type: ignore[attr-defined]
    document = {
        "summary": report.summary(task_id=result.task_id, trace_id=result.trace_id),
        "telemetry_rows": _rows(spans, logs),
    }
    out.write_text(json.dumps(document, default=str), encoding="utf-8")
    sys.stdout.flush()
    os._exit(0)  # the exporters' background threads retry an unreachable endpoint; do not wait for them


if __name__ == "__main__":
    main(Path(sys.argv[1]))
