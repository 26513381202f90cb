"""Canonical JSON and the argument digest approvals are bound to."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcage.envelopes import args_digest, canonical_json
from agentcage.errors import InvalidInputError

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _shuffled(value: object, rng: random.Random) -> object:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    return value


def test_canonical_form_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": "é", "c": [True, None]}) == '{"a":"é","b":1,"c":[true,null]}'.encode()


def test_equal_numbers_serialise_identically() -> None:
    assert (
        args_digest({"amount": 1})
        == args_digest({"amount": 1.0})
        == args_digest(json.loads('{"amount": 1e0}'))
    )
    assert args_digest({"x": -0.0}) == args_digest({"x": 0})
    assert args_digest({"x": 0.1}) != args_digest({"x": 0.10000001})


def test_bool_is_not_confused_with_integer() -> None:
    assert args_digest({"flag": True}) != args_digest({"flag": 1})


@pytest.mark.parametrize("bad", [{"x": math.nan}, {"x": math.inf}, {"x": object()}, {1: "key"}])
def test_non_json_values_are_refused(bad: dict[object, object]) -> None:
    with pytest.raises(InvalidInputError):
        canonical_json(bad)


@given(value=st.dictionaries(st.text(max_size=8), json_values, max_size=6), seed=st.integers())
def test_digest_is_invariant_under_key_reordering(value: dict[str, object], seed: int) -> None:
    reordered = _shuffled(value, random.Random(seed))

    assert args_digest(reordered) == args_digest(value)  # type: ignore[arg-type]


@given(value=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_digest_survives_a_json_round_trip(value: dict[str, object]) -> None:
    assert args_digest(json.loads(json.dumps(value))) == args_digest(value)
