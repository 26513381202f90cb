"""Carry a :class:`TraceContext` across HTTP, SQS and Service Bus.

- HTTP: the ``traceparent`` and ``tracestate`` headers (names are case-insensitive).
- SQS: a ``traceparent`` (and ``tracestate``) message attribute, plus the ``AWSTraceHeader`` system
  attribute that X-Ray and Lambda read; on receipt ``traceparent`` wins and ``AWSTraceHeader`` is the
  fallback (same 128 bits, see :mod:`agentcage.trace.xray`).
- Service Bus: the ``traceparent`` and ``Diagnostic-Id`` application properties (``Diagnostic-Id`` is
  what the Azure SDKs and the Functions host read, in W3C format). azure-servicebus hands received
  properties back with ``bytes`` keys and values; extraction accepts both.

Extraction returns ``None`` when no valid context is present (an invalid one is logged): callers then
start a new trace, as the W3C rules ask.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from agentcage.errors import TraceContextError
from agentcage.trace.w3c import TraceContext, parse_traceparent
from agentcage.trace.xray import from_xray_header, to_xray_header

__all__ = [
    "extract_http",
    "extract_servicebus",
    "extract_sqs_record",
    "inject_http",
    "inject_servicebus",
    "sqs_message_attributes",
    "sqs_system_attributes",
]

_log = logging.getLogger("agentcage.trace")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
DIAGNOSTIC_ID = "Diagnostic-Id"
AWS_TRACE_HEADER = "AWSTraceHeader"


def _text(value: object) -> str | None:
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def _lookup(mapping: Mapping[Any, Any], name: str) -> str | None:
    """Case-insensitive lookup that also accepts ``bytes`` keys and values."""
    wanted = name.lower()
    for key, value in mapping.items():
        key_text = _text(key)
        if key_text is not None and key_text.lower() == wanted:
            return _text(value)
    return None


def _parse_or_log(value: str | None, tracestate: str | None, carrier: str) -> TraceContext | None:
    if not value:
        return None
    try:
        return parse_traceparent(value, tracestate)
    except TraceContextError as error:
        _log.warning("invalid %s trace context ignored: %s", carrier, error.message)
        return None


def inject_http(ctx: TraceContext, headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Set ``traceparent`` (and ``tracestate`` when there is one) on outgoing headers; returns them."""
    headers[TRACEPARENT] = ctx.traceparent
    if ctx.tracestate:
        headers[TRACESTATE] = ctx.tracestate
    return headers


def extract_http(headers: Mapping[str, Any] | None) -> TraceContext | None:
    """The caller's trace context from request headers, or ``None``."""
    if not headers:
        return None
    return _parse_or_log(_lookup(headers, TRACEPARENT), _lookup(headers, TRACESTATE), "HTTP")


def sqs_message_attributes(ctx: TraceContext) -> dict[str, dict[str, str]]:
    """``MessageAttributes`` for ``SendMessage`` carrying the W3C context."""
    attributes = {TRACEPARENT: {"DataType": "String", "StringValue": ctx.traceparent}}
    if ctx.tracestate:
        attributes[TRACESTATE] = {"DataType": "String", "StringValue": ctx.tracestate}
    return attributes


def sqs_system_attributes(ctx: TraceContext) -> dict[str, dict[str, str]]:
    """``MessageSystemAttributes`` for ``SendMessage``: the X-Ray ``AWSTraceHeader``."""
    return {AWS_TRACE_HEADER: {"DataType": "String", "StringValue": to_xray_header(ctx)}}


def _sqs_attribute_value(attribute: object) -> str | None:
    if isinstance(attribute, Mapping):
        # Lambda events use camelCase (stringValue); ReceiveMessage responses use StringValue.
        return _text(attribute.get("stringValue", attribute.get("StringValue")))
    return _text(attribute)


def extract_sqs_record(record: Mapping[str, Any]) -> TraceContext | None:
    """The trace context of one SQS message, from a Lambda event record or a ReceiveMessage message."""
    message_attributes = record.get("messageAttributes") or record.get("MessageAttributes") or {}
    system_attributes = record.get("attributes") or record.get("Attributes") or {}
    if isinstance(message_attributes, Mapping):
        traceparent = _sqs_attribute_value(message_attributes.get(TRACEPARENT))
        tracestate = _sqs_attribute_value(message_attributes.get(TRACESTATE))
        found = _parse_or_log(traceparent, tracestate, "SQS traceparent")
        if found is not None:
            return found
    if isinstance(system_attributes, Mapping):
        header = _text(system_attributes.get(AWS_TRACE_HEADER))
        if header:
            try:
                return from_xray_header(header)
            except TraceContextError as error:
                _log.warning("invalid AWSTraceHeader ignored: %s", error.message)
    return None


def inject_servicebus(ctx: TraceContext, properties: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Set ``traceparent`` and ``Diagnostic-Id`` (and ``tracestate``) application properties; returns them."""
    properties[TRACEPARENT] = ctx.traceparent
    properties[DIAGNOSTIC_ID] = ctx.traceparent
    if ctx.tracestate:
        properties[TRACESTATE] = ctx.tracestate
    return properties


def extract_servicebus(properties: Mapping[Any, Any] | None) -> TraceContext | None:
    """The trace context from Service Bus application properties (``traceparent``, then ``Diagnostic-Id``)."""
    if not properties:
        return None
    tracestate = _lookup(properties, TRACESTATE)
    for name in (TRACEPARENT, DIAGNOSTIC_ID):
        found = _parse_or_log(_lookup(properties, name), tracestate, f"Service Bus {name}")
        if found is not None:
            return found
    return None
