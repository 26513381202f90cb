"""Lossless W3C <-> X-Ray AWSTraceHeader conversion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcage.errors import TraceContextError
from agentcage.trace import TraceContext, from_xray_header, to_xray_header

hex_ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).filter(lambda s: s != "0" * 32)
span_ids = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16).filter(lambda s: s != "0" * 16)


def test_documented_example_converts_to_the_same_bits() -> None:
    ctx = from_xray_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")

    assert ctx.trace_id == "5759e988bd862e3fe1be46a994272793"
    assert ctx.span_id == "53995c3f42cd8ad8"
    assert ctx.sampled is True
    assert to_xray_header(ctx) == "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_unknown_fields_are_ignored_and_missing_parent_gets_a_span() -> None:
    ctx = from_xray_header("Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:0;Sampled=?")

    assert ctx.trace_id == "5759e988bd862e3fe1be46a994272793"
    assert len(ctx.span_id) == 16
    assert ctx.sampled is False


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Parent=53995c3f42cd8ad8",
        "Root=2-5759e988-bd862e3fe1be46a994272793",
        "Root=1-5759e98-x;Parent=1",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz",
    ],
)
def test_malformed_header_raises(header: str) -> None:
    with pytest.raises(TraceContextError):
        from_xray_header(header)


@given(trace_id=hex_ids, span_id=span_ids, sampled=st.booleans())
def test_round_trip_is_lossless(trace_id: str, span_id: str, sampled: bool) -> None:
    ctx = TraceContext(trace_id=trace_id, span_id=span_id, sampled=sampled)

    assert from_xray_header(to_xray_header(ctx)) == ctx
