"""GenAI spans land in the task's own trace with the convention's attribute names."""

from __future__ import annotations

import pytest
from opentelemetry import trace as otel
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentcage.telemetry import agent_span, chat_span, configure_telemetry, record_usage, tool_span
from agentcage.trace import TraceContext

CTX = TraceContext(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7")
_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _provider() -> None:
    # The API takes a tracer provider once per process and ignores later ones, so whichever test ran
    # first in this process (another module, on the same xdist worker) may have set it: export from
    # that one when it is the SDK's, instead of from a provider of our own the API would ignore.
    if not isinstance(otel.get_tracer_provider(), TracerProvider):
        otel.set_tracer_provider(TracerProvider())
    provider = otel.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "another test set a non-SDK tracer provider"
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture(autouse=True)
def _clear() -> None:
    _EXPORTER.clear()


def test_agent_chat_and_tool_spans_share_the_w3c_trace_id() -> None:
    with agent_span(CTX, task_id="task-1", agent_id="returns-coordinator", step=0):
        with chat_span(
            CTX, task_id="task-1", model="gpt-4o", provider="azure.ai.openai", max_tokens=512
        ) as span:
            record_usage(span, input_tokens=812, output_tokens=64, response_model="gpt-4o-2024-08-06")
        with tool_span(CTX, task_id="task-1", tool="getCustomer", call_id="call-1"):
            pass

    spans = {span.name: span for span in _EXPORTER.get_finished_spans()}

    assert set(spans) == {"invoke_agent returns-coordinator", "chat gpt-4o", "execute_tool getCustomer"}
    assert {format(span.context.trace_id, "032x") for span in spans.values()} == {CTX.trace_id}
    chat = spans["chat gpt-4o"].attributes or {}
    assert chat["gen_ai.usage.input_tokens"] == 812
    assert chat["gen_ai.usage.output_tokens"] == 64
    assert chat["gen_ai.operation.name"] == "chat"
    tool = spans["execute_tool getCustomer"].attributes or {}
    assert (tool["gen_ai.tool.name"], tool["agentcage.task_id"]) == ("getCustomer", "task-1")


def test_export_stays_off_without_a_connection_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)

    assert configure_telemetry() is False
