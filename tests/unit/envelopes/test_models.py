"""Envelope schemas: versioning, unknown fields, consistency and size checks."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.envelopes import (
    MAX_BODY_BYTES,
    AgentStep,
    ToolRequest,
    ToolResult,
    args_digest,
    dump_envelope,
    new_id,
    parse_envelope,
)
from agentcage.errors import (
    EnvelopeError,
    EnvelopeTooLargeError,
    InvalidInputError,
    UnsupportedSchemaVersionError,
)
from agentcage.trace import TraceContext

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TRACEPARENT = TraceContext(
    trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7"
).traceparent

STEP: dict[str, Any] = {"schema_version": 1, "task_id": "task-1", "step": 0, "traceparent": TRACEPARENT}


def _digest(args: Any) -> str:
    try:
        return args_digest(args)
    except InvalidInputError:  # NaN or infinity in args, on purpose: the envelope must refuse it
        return "0" * 64


def _request(**overrides: Any) -> dict[str, Any]:
    args = overrides.pop("args", {"customer_id": "C-1001"})
    data: dict[str, Any] = {
        "schema_version": 1,
        "message_id": "msg-1",
        "task_id": "task-1",
        "step": 2,
        "agent_id": "returns-coordinator",
        "tool": "getCustomer",
        "args": args,
        "args_digest": _digest(args),
        "reservation_id": "res-1",
        "traceparent": TRACEPARENT,
        "issued_at": NOW.isoformat(),
        "expires_at": (NOW + timedelta(minutes=5)).isoformat(),
    }
    data.update(overrides)
    return data


def test_tool_request_round_trips_through_json() -> None:
    request = parse_envelope(ToolRequest, _request())

    again = parse_envelope(ToolRequest, dump_envelope(request))

    assert again == request
    assert again.schema_version == 1
    assert again.trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert again.is_expired(NOW + timedelta(minutes=5))
    assert not again.is_expired(NOW)


def test_unknown_field_is_rejected_with_its_name() -> None:
    with pytest.raises(EnvelopeError, match="surprise"):
        parse_envelope(ToolRequest, _request(surprise=1))


@pytest.mark.parametrize("version", [0, 2, "1", 1.5, True])
def test_unknown_schema_version_is_rejected(version: object) -> None:
    with pytest.raises(UnsupportedSchemaVersionError):
        parse_envelope(AgentStep, {**STEP, "schema_version": version})


@pytest.mark.parametrize("model", [AgentStep, ToolRequest, ToolResult])
def test_an_envelope_must_state_its_schema_version(model: Any) -> None:
    # GIVEN an otherwise valid message that omits schema_version (a producer on an old contract
    # must not be read as version 1 by default)
    request = _request()
    del request["schema_version"]
    with pytest.raises(UnsupportedSchemaVersionError, match="schema_version") as caught:
        parse_envelope(model, json.dumps(request))
    assert caught.value.details == {"schema_version": None}


def test_dump_envelope_always_writes_the_schema_version() -> None:
    built = AgentStep(task_id="task-1", step=0, traceparent=TRACEPARENT)  # the default, in code
    body = dump_envelope(built)
    assert json.loads(body)["schema_version"] == 1
    assert parse_envelope(AgentStep, body) == built


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_number_tokens_are_an_envelope_error(token: str) -> None:
    # GIVEN JSON text Python's json would accept, carrying a number JSON does not have
    text = json.dumps(_request(args={"amount": 1})).replace('"amount": 1', f'"amount": {token}')
    with pytest.raises(EnvelopeError, match=token):
        parse_envelope(ToolRequest, text)
    result = {**STEP, "x": 1}
    with pytest.raises(EnvelopeError):
        parse_envelope(AgentStep, json.dumps(result).replace('"step": 0', f'"step": {token}'))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_in_a_mapping_are_an_envelope_error_not_invalid_input(value: float) -> None:
    args = {"amount": value}
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(ToolRequest, _request(args=args))
    assert type(caught.value) is EnvelopeError
    assert caught.value.details["problems"][0]["loc"].startswith("args.amount")


def test_digest_that_does_not_match_args_is_rejected() -> None:
    with pytest.raises(EnvelopeError, match="args_digest"):
        parse_envelope(ToolRequest, _request(args_digest="0" * 64))


def test_expiry_before_issue_is_rejected() -> None:
    with pytest.raises(EnvelopeError, match="expires_at"):
        parse_envelope(ToolRequest, _request(expires_at=(NOW - timedelta(seconds=1)).isoformat()))


def test_naive_timestamps_and_bad_ids_are_rejected_with_each_problem_listed() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(ToolRequest, _request(issued_at="2026-11-21T12:00:00", task_id="task id with spaces"))

    locations = {problem["loc"] for problem in caught.value.details["problems"]}
    assert {"issued_at", "task_id"} <= locations


def test_invalid_traceparent_in_an_envelope_is_an_envelope_error() -> None:
    with pytest.raises(EnvelopeError, match="traceparent"):
        parse_envelope(AgentStep, {**STEP, "traceparent": "00-bad"})


def test_tool_result_error_must_match_status() -> None:
    base = {
        "schema_version": 1,
        "message_id": "msg-2",
        "request_id": "msg-1",
        "task_id": "task-1",
        "step": 2,
        "tool": "getCustomer",
        "traceparent": TRACEPARENT,
        "completed_at": NOW.isoformat(),
    }
    ok = parse_envelope(ToolResult, {**base, "status": "ok", "result": {"name": "Dana"}})

    assert ok.summary() == {"request_id": "msg-1", "tool": "getCustomer", "status": "ok", "error": None}
    with pytest.raises(EnvelopeError, match="must carry an error"):
        parse_envelope(ToolResult, {**base, "status": "denied"})
    with pytest.raises(EnvelopeError, match="carries no error"):
        parse_envelope(ToolResult, {**base, "status": "ok", "error": {"code": "x", "message": "y"}})
    with pytest.raises(EnvelopeError):
        parse_envelope(ToolResult, {**base, "status": "exploded", "error": {"code": "x", "message": "y"}})


def test_oversized_envelope_raises_before_sending() -> None:
    big = {"blob": "x" * (MAX_BODY_BYTES + 1)}
    request = parse_envelope(ToolRequest, _request(args=big))

    with pytest.raises(EnvelopeTooLargeError) as caught:
        dump_envelope(request)
    assert caught.value.status == 413
    assert caught.value.details["limit"] == MAX_BODY_BYTES


def test_envelope_just_under_the_limit_is_sent_whole() -> None:
    request = parse_envelope(ToolRequest, _request(args={"blob": "x" * (MAX_BODY_BYTES - 1024)}))

    body = dump_envelope(request)

    assert json.loads(body)["args"]["blob"] == "x" * (MAX_BODY_BYTES - 1024)


@pytest.mark.parametrize("raw", [b"\xff\xfe", "{", "[]", "null", "3", b'{"a": ' * 5000, 42])
def test_garbage_is_an_envelope_error(raw: Any) -> None:
    with pytest.raises(EnvelopeError):
        parse_envelope(AgentStep, raw)


def test_new_id_fits_an_sts_role_session_name() -> None:
    task_id = new_id("task")

    assert task_id.startswith("task-")
    assert 2 <= len(task_id) <= 64
    assert parse_envelope(AgentStep, {**STEP, "task_id": task_id}).task_id == task_id


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
field_names = st.sampled_from(
    [
        "schema_version",
        "task_id",
        "step",
        "traceparent",
        "message_id",
        "request_id",
        "tool",
        "status",
        "args",
        "args_digest",
        "error",
        "result",
        "issued_at",
        "expires_at",
        "completed_at",
        "agent_id",
        "x",
    ]
)


_NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


@settings(max_examples=300)
@given(
    model=st.sampled_from([AgentStep, ToolRequest, ToolResult]),
    data=st.one_of(
        json_values,
        st.dictionaries(field_names, json_values | _NON_FINITE, max_size=12),
        # near-valid envelopes with one field replaced (NaN, Infinity and -Infinity included)
        st.builds(lambda name, value: {**_request(), name: value}, field_names, json_values | _NON_FINITE),
        st.builds(lambda value: _request(args={"amount": value}), st.floats() | json_values),
    ),
    as_text=st.booleans(),
)
def test_random_json_never_raises_anything_but_envelope_error(model: Any, data: Any, as_text: bool) -> None:
    # json.dumps writes NaN, Infinity and -Infinity as those bare tokens: the text form fuzzes them too
    raw = json.dumps(data) if as_text else data
    try:
        parse_envelope(model, raw)
    except EnvelopeError:  # the only exception allowed out; anything else fails the test
        return
