"""Canonical JSON (RFC 8785) and the argument digest approvals are bound to."""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
from types import MappingProxyType

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from agentcage.envelopes import args_digest, canonical_json, canonicalize
from agentcage.envelopes.canonical import MAX_EXACT_INTEGER
from agentcage.errors import InvalidInputError

# Strings without lone surrogates (RFC 8785 text is valid Unicode) and integers a double holds exactly.
json_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_EXACT_INTEGER, max_value=MAX_EXACT_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8), children, max_size=4
        )
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


def _double(bits: str) -> float:
    return float(struct.unpack(">d", bytes.fromhex(bits))[0])


# RFC 8785 Appendix B: IEEE 754 doubles (as their 64 bits) and their canonical text.
RFC8785_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), RFC8785_NUMBERS)
def test_numbers_serialise_as_rfc8785_appendix_b(bits: str, expected: str) -> None:
    assert canonical_json([_double(bits)]) == f"[{expected}]".encode()


def test_rfc8785_section_3_2_4_example() -> None:
    # GIVEN the RFC's own example, parsed from its JSON text
    text = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    # THEN its canonical form is byte for byte the RFC's
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(text)) == expected.encode()


def test_keys_sort_by_utf16_code_units_as_rfc8785_section_3_2_3() -> None:
    # GIVEN the RFC's sorting example: U+1F600 is a surrogate pair (D83D DE00) in UTF-16, so it sorts
    # before U+FB33, although its code point is larger (Python's sort_keys would put it last)
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    value = {key: index for index, key in enumerate(keys)}

    ordered = list(json.loads(canonical_json(value)))

    assert ordered == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert ordered != sorted(keys)


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
    assert canonical_json({"big": 1e21, "small": 1e-7}) == b'{"big":1e+21,"small":1e-7}'


def test_bool_is_not_confused_with_integer() -> None:
    assert args_digest({"flag": True}) != args_digest({"flag": 1})


@pytest.mark.parametrize(
    "bad",
    [{"x": math.nan}, {"x": math.inf}, {"x": object()}, {1: "key"}, {"x": "\ud800"}, {"x": [-math.inf]}],
)
def test_non_json_values_are_refused(bad: dict[object, object]) -> None:
    with pytest.raises(InvalidInputError):
        canonical_json(bad)


@pytest.mark.parametrize(
    "text",
    ['{"\\ud800":1}', '{"a":{"\\udfff":1,"b":2}}', '[{"\\ud83d":0}]'],
    ids=["lone-high-key", "nested-lone-low-key", "key-in-a-list"],
)
def test_a_lone_surrogate_object_key_is_refused_like_one_in_a_value(text: str) -> None:
    # GIVEN a JSON text whose object key is a lone surrogate (valid JSON, not valid Unicode)
    value = json.loads(text)

    # THEN it is the library's refusal, never the codec's UnicodeEncodeError (which would be a 500)
    with pytest.raises(InvalidInputError, match="not valid Unicode"):
        canonical_json(value)
    if isinstance(value, dict):
        with pytest.raises(InvalidInputError):
            args_digest(value)


def test_integers_a_double_cannot_hold_are_refused_by_the_digest() -> None:
    # GIVEN two amounts that every non-Python JSON reader reads as the same double
    near, far = 2**53, 2**53 + 1

    # THEN the digest an approval binds refuses the inexact one instead of confusing them
    assert args_digest({"amount": MAX_EXACT_INTEGER})
    with pytest.raises(InvalidInputError, match="as strings"):
        args_digest({"amount": far})
    # AND content digests write it as the double it is read as (a prompt digest never fails a step)
    assert canonical_json({"amount": far}) == canonical_json({"amount": float(near)})


def test_a_read_only_mapping_digests_like_the_dict() -> None:
    assert args_digest(MappingProxyType({"a": 1})) == args_digest({"a": 1})


def test_canonicalize_returns_the_value_the_canonical_text_denotes() -> None:
    assert canonicalize({"b": 1.0, "a": [2.50]}) == {"a": [2.5], "b": 1}


@given(value=st.dictionaries(json_text, json_values, max_size=6))
def test_digest_is_sha256_of_the_rfc8785_package_serialisation(value: dict[str, object]) -> None:
    assert args_digest(value) == hashlib.sha256(rfc8785.dumps(value)).hexdigest()


# Values the standard library's encoder may write (no floats, ASCII keys): canonical_json's fast path.
plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | json_text
    | st.sampled_from(["\u2028", "\x7f", "\x00\x1f", '"\\/', "\U0001f600", "\ud800"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(alphabet=st.characters(max_codepoint=127), max_size=8), children, max_size=4
        )
    ),
    max_leaves=20,
)


@given(value=plain_values)
def test_the_fast_path_writes_what_the_rfc8785_package_writes(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)  # type: ignore[arg-type]
    except rfc8785.IntegerDomainError:
        with pytest.raises(InvalidInputError):
            canonical_json(value, exact=True)
        return
    except rfc8785.CanonicalizationError:  # a lone surrogate
        with pytest.raises(InvalidInputError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@given(value=st.dictionaries(json_text, json_values, max_size=6), seed=st.integers())
def test_digest_is_invariant_under_key_reordering(value: dict[str, object], seed: int) -> None:
    reordered = _shuffled(value, random.Random(seed))

    assert args_digest(reordered) == args_digest(value)  # type: ignore[arg-type]


@given(value=st.dictionaries(json_text, json_values, max_size=6))
def test_digest_survives_a_json_round_trip(value: dict[str, object]) -> None:
    assert args_digest(json.loads(json.dumps(value))) == args_digest(value)


def test_ordinary_arguments_digest_as_before_rfc8785() -> None:
    # GIVEN arguments of the kind the catalog's tools take (strings, integer cents, short decimals),
    # and the pre-RFC 8785 form (sort_keys, compact, UTF-8, integral floats as integers)
    args = {"customer_id": "C-1001", "amount_cents": 12500, "reason": "dégât", "rate": 0.25, "n": 3.0}
    legacy = json.dumps({**args, "n": 3}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    # THEN the digest is unchanged: approvals pending across the deploy still match their calls
    assert args_digest(args) == hashlib.sha256(legacy.encode()).hexdigest()
