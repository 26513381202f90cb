"""The scan's fast paths find exactly what the plain patterns and the plain walk find."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.inspect import Finding, detect, detectors, scan, walk_strings

# Characters the candidate and key patterns care about, their neighbours, and other scripts' digits
# (which the digit class matches and the ASCII byte view cannot show).
_OTHER_SCRIPTS = ["\u0663", "\uff14", "\U0001d7d8", "\u00b2", "\u00e9", "\u2014", "\u201c", "\ud800"]
_ALPHABET = st.sampled_from([*"0123456789 ().-+/=_ABCXYZabcxyz@?\n", *_OTHER_SCRIPTS])
texts = st.text(alphabet=_ALPHABET, max_size=120) | st.text(max_size=60)


@settings(max_examples=400, deadline=None)
@given(text=texts)
def test_candidate_runs_over_the_byte_view_are_the_patterns_own(text: str) -> None:
    expected = [match.span() for match in detectors._CANDIDATE.finditer(text)]
    assert list(detectors._candidate_spans(text)) == expected


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=_ALPHABET, min_size=38, max_size=90), run=st.integers(35, 45))
def test_the_key_run_guard_is_true_exactly_when_the_key_pattern_matches(text: str, run: int) -> None:
    for candidate in (text, text[:10] + "aB3/+" * (run // 5) + text[10:]):
        view = detectors._ascii_view(candidate).translate(detectors._KEY_TABLE)
        assert (detectors._KEY_RUN in view) == bool(detectors._SECRET_KEY.search(candidate))


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("“Refund” to card 4111 1111 1111 1111 — thanks", "4111 1111 1111 1111"),
        ("order \u0663\u0664\u0665 then card 4111 1111 1111 1111", "4111 1111 1111 1111"),
        ("clé wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY fin", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ],
)
def test_text_outside_ascii_is_still_scanned(text: str, secret: str) -> None:
    assert [text[start:end] for _, start, end in detect(text)] == [secret]


_KEYS = ["note", "ssn", "phone", "order_id", "mobilePhone"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["note", "ssn", "phone", "order_id", "mobilePhone"]), children, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_scan_finds_what_detect_finds_on_every_walked_string(value: Any) -> None:
    expected = [
        Finding(kind, path, start, end)
        for path, text in walk_strings(value)
        for kind, start, end in detect(text, path)
    ]
    assert scan(value) == expected
