"""PII and secret detection: each kind found where it is, checksums respected, ids left alone."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.inspect import Finding, redact, scan, summarize

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(
    ("kind", "secret"),
    [
        ("email", "jane.doe+returns@example.co.uk"),
        ("phone", "+1 415 555 0100"),
        ("phone", "(415) 555-0100"),
        ("phone", "020 7946 0958"),
        ("ssn", "536-22-8726"),
        ("card", "4111 1111 1111 1111"),
        ("card", "5500-0000-0000-0004"),
        ("card", "378282246310005"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("iban", "GB82WEST12345698765432"),
        ("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("jwt", JWT),
        ("private_key", "-----BEGIN RSA PRIVATE KEY-----"),
        ("private_key", "-----BEGIN PRIVATE KEY-----"),
    ],
)
def test_each_kind_is_found_with_its_exact_span(kind: str, secret: str) -> None:
    text = f"before {secret} after."
    findings = scan({"note": text})
    assert [(f.kind, f.path, text[f.start : f.end]) for f in findings] == [(kind, "$.note", secret)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "iban DE89 3704 0044 0532 0130 01",  # mod-97 fails
        "ssn 000-12-3456",  # area 000 is never issued
        "ssn 666-12-3456",
        "order O-12345678, customer C-1001, volume vol-0123456789abcdef0",
        "commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 (a SHA-1, not a key)",
        "on 2024-11-05 we shipped 1,200 units at 12.50 each",
        "quantity 500, price 1250 cents, 30 days, net 45",
        "user@localhost is not an address",
    ],
)
def test_lookalikes_are_not_findings(text: str) -> None:
    assert scan(text) == []


def test_nested_values_report_their_json_path() -> None:
    value = {"items": [{"sku": "A-1"}, {"note": "mail a@example.com"}], "ok": True}
    assert [(f.kind, f.path) for f in scan(value)] == [("email", "$.items[1].note")]


def test_a_card_number_in_an_integer_field_is_found() -> None:
    assert [(f.kind, f.path) for f in scan({"price": 4111111111111111})] == [("card", "$.price")]


def test_findings_never_hold_the_matched_text() -> None:
    assert {field.name for field in dataclasses.fields(Finding)} == {"kind", "path", "start", "end"}


def test_redaction_follows_the_tools_data_classes() -> None:
    result = {"email": "jane@example.com", "card": "4111 1111 1111 1111", "key": "AKIAIOSFODNN7EXAMPLE"}
    # GIVEN a pii tool: emails masked, cards left, secrets always masked
    redacted, findings = redact(result, ["pii"])
    assert redacted == {
        "email": "[REDACTED:email]",
        "card": "4111 1111 1111 1111",
        "key": "[REDACTED:aws_access_key_id]",
    }
    assert {f.kind for f in findings} == {"email", "aws_access_key_id"}
    # AND a financial tool masks the card instead, including one in a number field
    redacted, _ = redact({**result, "n": 4111111111111111}, ["financial"])
    assert redacted["card"] == "[REDACTED:card]"
    assert redacted["n"] == "[REDACTED:card]"
    assert redacted["email"] == "jane@example.com"
    # AND the original is untouched
    assert result["email"] == "jane@example.com"


def test_redaction_keeps_the_text_around_each_span() -> None:
    redacted, _ = redact("call +1 415 555 0100 or mail a@example.com today", ["pii"])
    assert redacted == "call [REDACTED:phone] or mail [REDACTED:email] today"


def test_summary_counts_cards_as_pii_and_tokens_as_secrets() -> None:
    summary = summarize(scan({"a": "4111 1111 1111 1111", "b": JWT}))
    assert (summary.has_pii, summary.has_secrets) == (True, True)
    assert summary.kinds == {"card", "jwt"}
    assert summarize([]).has_pii is False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_random_json_never_crashes_scan_or_redact(value: Any) -> None:
    findings = scan(value)
    for finding in findings:
        assert 0 <= finding.start < finding.end
    redacted, _ = redact(value, ["pii", "financial"])
    # THEN nothing the classes cover survives redaction
    assert {f.kind for f in scan(redacted)}.isdisjoint({"email", "phone", "ssn", "card", "iban"})


@settings(max_examples=100, deadline=None)
@given(
    body=st.lists(st.integers(min_value=0, max_value=9), min_size=15, max_size=15),
    before=st.text(alphabet="abc XYZ.,", max_size=20),
    after=st.text(alphabet="abc XYZ.,", max_size=20),
)
def test_any_luhn_valid_visa_number_in_text_is_found(body: list[int], before: str, after: str) -> None:
    digits = [4, *body[:14]]
    total = 0
    for index, digit in enumerate(reversed(digits)):  # the check digit that makes it Luhn-valid
        doubled = digit * 2 if index % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    card = "".join(map(str, digits)) + str((10 - total % 10) % 10)
    text = f"{before} {card} {after}"
    assert "card" in {f.kind for f in scan(text)}
