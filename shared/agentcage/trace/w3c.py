"""W3C Trace Context (``traceparent``/``tracestate``): parse, validate, generate, continue.

Follows https://www.w3.org/TR/trace-context/ (Level 1, with the forward-compatibility rules for future
versions): lowercase hex only, version ``ff`` invalid, all-zero trace and parent ids invalid, exact
field lengths. An invalid incoming header never fails a request: :func:`continue_or_start` logs it and
starts a new trace, dropping the ``tracestate`` that belonged to it as the specification requires.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, replace

from agentcage.errors import TraceContextError

__all__ = [
    "TraceContext",
    "continue_or_start",
    "new_span_id",
    "new_trace_id",
    "parse_traceparent",
    "parse_tracestate",
    "trace_id_of",
]

_log = logging.getLogger("agentcage.trace")

_VERSION_00_LENGTH = 55
_FIELDS = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_SAMPLED = 0x01
# tracestate list members: key=value, at most 32 of them (spec section 3.3).
_TRACESTATE_MAX_MEMBERS = 32
_TRACESTATE_MEMBER = re.compile(
    r"^(?:[a-z0-9][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$"
)


def new_trace_id() -> str:
    """A random, never all-zero, 32-hex-digit trace id."""
    while True:
        value = os.urandom(16).hex()
        if value != _ZERO_TRACE:
            return value


def new_span_id() -> str:
    """A random, never all-zero, 16-hex-digit span (parent) id."""
    while True:
        value = os.urandom(8).hex()
        if value != _ZERO_SPAN:
            return value


@dataclass(frozen=True, slots=True)
class TraceContext:
    """One position in a distributed trace: the trace, the current span, the sampling flag."""

    trace_id: str
    span_id: str
    sampled: bool = True
    tracestate: str | None = None

    def __post_init__(self) -> None:
        if not _is_hex(self.trace_id, 32) or self.trace_id == _ZERO_TRACE:
            raise TraceContextError(
                f"trace id must be 32 lowercase hex digits, not all zero: {self.trace_id!r}"
            )
        if not _is_hex(self.span_id, 16) or self.span_id == _ZERO_SPAN:
            raise TraceContextError(
                f"span id must be 16 lowercase hex digits, not all zero: {self.span_id!r}"
            )

    @classmethod
    def new(cls, *, sampled: bool = True) -> TraceContext:
        """Start a new trace."""
        return cls(trace_id=new_trace_id(), span_id=new_span_id(), sampled=sampled)

    @property
    def traceparent(self) -> str:
        """The version-00 ``traceparent`` header value."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def child(self) -> TraceContext:
        """A new span in the same trace (same flags and tracestate)."""
        return replace(self, span_id=new_span_id())


def _is_hex(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and all(c in "0123456789abcdef" for c in value)


def parse_tracestate(value: str | None) -> str | None:
    """Normalise ``tracestate``: keep valid members (at most 32), drop the rest; ``None`` if empty."""
    if not value:
        return None
    members = [m.strip() for m in value.split(",")]
    kept = [m for m in members if m and _TRACESTATE_MEMBER.match(m)][:_TRACESTATE_MAX_MEMBERS]
    return ",".join(kept) or None


def parse_traceparent(value: str, tracestate: str | None = None) -> TraceContext:
    """Parse a ``traceparent`` header strictly; raise :class:`TraceContextError` saying why it is invalid."""
    if not isinstance(value, str):
        raise TraceContextError("traceparent must be a string")
    header = value.strip(" \t")
    match = _FIELDS.match(header)
    if match is None:
        raise TraceContextError(
            f"traceparent is not version-traceid-parentid-flags in lowercase hex: {value!r}"
        )
    version, trace_id, span_id, flags = match.groups()
    if version == "ff":
        raise TraceContextError("traceparent version ff is forbidden")
    if version == "00" and len(header) != _VERSION_00_LENGTH:
        raise TraceContextError("a version 00 traceparent is exactly 55 characters")
    # A future version may append fields, but only after a dash (spec section 4.3).
    if len(header) > _VERSION_00_LENGTH and header[_VERSION_00_LENGTH] != "-":
        raise TraceContextError("traceparent has trailing data not separated by '-'")
    if trace_id == _ZERO_TRACE:
        raise TraceContextError("traceparent trace id is all zeros")
    if span_id == _ZERO_SPAN:
        raise TraceContextError("traceparent parent id is all zeros")
    return TraceContext(
        trace_id=trace_id,
        span_id=span_id,
        sampled=bool(int(flags, 16) & _SAMPLED),
        tracestate=parse_tracestate(tracestate),
    )


def continue_or_start(value: str | None, tracestate: str | None = None) -> TraceContext:
    """Continue the caller's trace with a child span, or start a new one when the header is absent or invalid.

    An invalid header is logged (at warning level, with the reason) and never fails the request.
    """
    if value is None or value == "":
        return TraceContext.new()
    try:
        incoming = parse_traceparent(value, tracestate)
    except TraceContextError as error:
        fresh = TraceContext.new()
        _log.warning(
            "invalid traceparent ignored; started trace %s: %s",
            fresh.trace_id,
            error.message,
            extra={"invalid_traceparent": str(value)[:128], "trace_id": fresh.trace_id},
        )
        return fresh
    return incoming.child()


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a stored ``traceparent``, or ``None`` when there is none or it is invalid."""
    if not traceparent:
        return None
    try:
        return parse_traceparent(traceparent).trace_id
    except TraceContextError:
        return None
