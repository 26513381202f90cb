"""Lossless conversion between W3C trace context and the X-Ray ``AWSTraceHeader``.

An X-Ray root ``1-<8 hex>-<24 hex>`` is the same 128 bits as a W3C trace id split after 8 digits
(the first 8 are the epoch seconds when X-Ray made the id; for a W3C id they are just bits), so the
conversion both ways changes nothing: ``from_xray_header(to_xray_header(ctx)) == ctx`` for the ids
and the sampling flag.
"""

from __future__ import annotations

import re

from agentcage.errors import TraceContextError
from agentcage.trace.w3c import TraceContext, new_span_id

__all__ = ["from_xray_header", "to_xray_header"]

_ROOT = re.compile(r"^1-([0-9a-f]{8})-([0-9a-f]{24})$")
_PARENT = re.compile(r"^[0-9a-f]{16}$")


def to_xray_header(ctx: TraceContext) -> str:
    """``Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`` for this context."""
    trace = ctx.trace_id
    return f"Root=1-{trace[:8]}-{trace[8:]};Parent={ctx.span_id};Sampled={'1' if ctx.sampled else '0'}"


def from_xray_header(value: str) -> TraceContext:
    """Parse an X-Ray trace header; unknown fields (``Lineage``, ``Self``) are ignored.

    A header without ``Parent`` gets a fresh span id; ``Sampled`` absent or ``?`` (deferred) reads as
    not sampled. A missing or malformed ``Root`` raises :class:`TraceContextError`.
    """
    if not isinstance(value, str):
        raise TraceContextError("AWSTraceHeader must be a string")
    fields: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, field_value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = field_value.strip()
    root = _ROOT.match(fields.get("Root", "").lower())
    if root is None:
        raise TraceContextError(f"AWSTraceHeader has no valid Root: {value!r}")
    parent = fields.get("Parent", "").lower()
    if parent and not _PARENT.match(parent):
        raise TraceContextError(f"AWSTraceHeader Parent is not 16 hex digits: {parent!r}")
    return TraceContext(
        trace_id=root.group(1) + root.group(2),
        span_id=parent or new_span_id(),
        sampled=fields.get("Sampled") == "1",
    )
