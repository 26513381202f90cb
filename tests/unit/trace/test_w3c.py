"""W3C traceparent parsing, generation and the spec's rules for invalid input."""

from __future__ import annotations

import logging
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.errors import TraceContextError
from agentcage.trace import TraceContext, continue_or_start, parse_traceparent, parse_tracestate

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

hex_ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).filter(lambda s: s != "0" * 32)
span_ids = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16).filter(lambda s: s != "0" * 16)


def test_parse_valid_traceparent_reads_every_field() -> None:
    ctx = parse_traceparent(VALID, "congo=t61rcWkgMzE")

    assert ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.span_id == "00f067aa0ba902b7"
    assert ctx.sampled is True
    assert ctx.tracestate == "congo=t61rcWkgMzE"
    assert ctx.traceparent == VALID


def test_unsampled_flag_is_preserved() -> None:
    ctx = parse_traceparent(VALID[:-2] + "00")

    assert ctx.sampled is False
    assert ctx.traceparent.endswith("-00")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version ff"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "all zeros"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "all zeros"),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "lowercase"),
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", "lowercase"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01", "lowercase"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "55 characters"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", "lowercase"),
        ("", "lowercase"),
        ("garbage", "lowercase"),
    ],
)
def test_invalid_traceparent_raises_with_reason(header: str, reason: str) -> None:
    with pytest.raises(TraceContextError, match=reason):
        parse_traceparent(header)


def test_future_version_with_extra_fields_is_accepted() -> None:
    ctx = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds")

    assert ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_future_version_with_trailing_data_without_dash_is_rejected() -> None:
    with pytest.raises(TraceContextError):
        parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x")


def test_continue_or_start_continues_a_valid_trace_with_a_child_span() -> None:
    ctx = continue_or_start(VALID, "a=b")

    assert ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.span_id != "00f067aa0ba902b7"
    assert ctx.tracestate == "a=b"


def test_continue_or_start_with_invalid_header_starts_a_new_trace_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="agentcage.trace"):
        ctx = continue_or_start("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=b")

    assert ctx.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.tracestate is None  # the spec: tracestate of an invalid traceparent is dropped
    assert any("invalid traceparent" in record.getMessage() for record in caplog.records)


def test_continue_or_start_without_header_starts_a_new_trace() -> None:
    assert continue_or_start(None).trace_id != continue_or_start("").trace_id


def test_child_keeps_trace_and_flags_and_changes_span() -> None:
    parent = TraceContext.new(sampled=False)
    child = parent.child()

    assert (child.trace_id, child.sampled) == (parent.trace_id, False)
    assert child.span_id != parent.span_id


def test_constructing_an_invalid_context_raises() -> None:
    with pytest.raises(TraceContextError):
        TraceContext(trace_id="0" * 32, span_id="1" * 16)


def test_tracestate_keeps_valid_members_only_and_at_most_32() -> None:
    members = ",".join(f"k{i}=v{i}" for i in range(40))

    assert parse_tracestate(" a=1 , ,BAD KEY=2,b@vendor=3") == "a=1,b@vendor=3"
    assert parse_tracestate(members) == ",".join(f"k{i}=v{i}" for i in range(32))
    assert parse_tracestate("") is None


@given(trace_id=hex_ids, span_id=span_ids, sampled=st.booleans())
def test_traceparent_round_trip(trace_id: str, span_id: str, sampled: bool) -> None:
    ctx = TraceContext(trace_id=trace_id, span_id=span_id, sampled=sampled)

    assert parse_traceparent(ctx.traceparent) == ctx


def _mutations() -> st.SearchStrategy[str]:
    """Malformed traceparents: a valid one with one field broken in one of the spec's ways."""
    broken_version = st.sampled_from(["ff", "0", "000", "G0", "0A"]).map(lambda v: v + VALID[2:])
    # one hex digit made upper-case, or a digit replaced by a non-hex letter
    upper = st.sampled_from([i for i, c in enumerate(VALID) if c != "-" and i > 2]).map(
        lambda i: VALID[:i] + (VALID[i].upper() if VALID[i] in "abcdef" else "X") + VALID[i + 1 :]
    )
    truncated = st.integers(min_value=0, max_value=54).map(lambda n: VALID[:n])
    noise = st.text(alphabet=string.printable, max_size=80)
    zero_trace = st.just("00-" + "0" * 32 + VALID[35:])
    return st.one_of(broken_version, upper, truncated, noise, zero_trace)


@settings(max_examples=400)
@given(header=_mutations())
def test_every_malformed_traceparent_is_rejected_and_starts_a_new_trace(header: str) -> None:
    with pytest.raises(TraceContextError):
        parse_traceparent(header)

    ctx = continue_or_start(header, "a=b")

    assert ctx.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.tracestate is None
    assert parse_traceparent(ctx.traceparent) == ctx
