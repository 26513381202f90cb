"""OpenTelemetry spans named by the GenAI semantic conventions, in the task's own trace.

``invoke_agent {agent}``, ``chat {model}`` and ``execute_tool {tool}`` spans carry
``gen_ai.operation.name``, ``gen_ai.agent.id``, ``gen_ai.request.model``, ``gen_ai.provider.name``,
``gen_ai.usage.input_tokens``/``output_tokens`` and ``gen_ai.tool.name``, plus ``agentcage.task_id``.
Each span is parented on the task's W3C trace context, so Application Insights shows the same trace id
that the ``traceparent`` header, the queues and CloudWatch carry. Without a configured exporter the
OpenTelemetry API is a no-op and these cost next to nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace as otel
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

from agentcage.monitoring_names import SPAN_STEP, SPAN_TASK_ID
from agentcage.trace.w3c import TraceContext

__all__ = ["agent_span", "chat_span", "record_usage", "tool_span"]

_TRACER_NAME = "agentcage"


def _parent(ctx: TraceContext) -> Context:
    remote = SpanContext(
        trace_id=int(ctx.trace_id, 16),
        span_id=int(ctx.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if ctx.sampled else TraceFlags.DEFAULT),
    )
    return otel.set_span_in_context(NonRecordingSpan(remote))


@contextmanager
def _span(name: str, ctx: TraceContext, kind: SpanKind, attributes: dict[str, str | int]) -> Iterator[Span]:
    tracer = otel.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(name, context=_parent(ctx), kind=kind, attributes=attributes) as span:
        yield span


@contextmanager
def agent_span(ctx: TraceContext, *, task_id: str, agent_id: str, step: int) -> Iterator[Span]:
    """One agent step of one task."""
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.id": agent_id,
        "gen_ai.agent.name": agent_id,
        SPAN_TASK_ID: task_id,
        SPAN_STEP: step,
    }
    with _span(f"invoke_agent {agent_id}", ctx, SpanKind.INTERNAL, attributes) as span:
        yield span


@contextmanager
def chat_span(
    ctx: TraceContext, *, task_id: str, model: str, provider: str, max_tokens: int
) -> Iterator[Span]:
    """One model call; record its usage with :func:`record_usage`."""
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.provider.name": provider,
        "gen_ai.request.max_tokens": max_tokens,
        SPAN_TASK_ID: task_id,
    }
    with _span(f"chat {model}", ctx, SpanKind.CLIENT, attributes) as span:
        yield span


@contextmanager
def tool_span(ctx: TraceContext, *, task_id: str, tool: str, call_id: str | None = None) -> Iterator[Span]:
    """One tool call (the governance decision and, when allowed, its dispatch)."""
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        SPAN_TASK_ID: task_id,
    }
    if call_id:
        attributes["gen_ai.tool.call.id"] = call_id
    with _span(f"execute_tool {tool}", ctx, SpanKind.INTERNAL, attributes) as span:
        yield span


def record_usage(
    span: Span, *, input_tokens: int, output_tokens: int, response_model: str | None = None
) -> None:
    """Put the provider-reported token usage on a ``chat`` span."""
    span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
    if response_model:
        span.set_attribute("gen_ai.response.model", response_model)
