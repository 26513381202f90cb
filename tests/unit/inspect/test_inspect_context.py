"""Bare-digit SSNs and phone numbers: found where their key or the words before them say so, and
nowhere else (order numbers, amounts and ids look the same)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.inspect import redact, scan, summarize


@pytest.mark.parametrize(
    ("text", "kind", "number"),
    [
        ("Customer SSN 536221234, please verify.", "ssn", "536221234"),
        ("their social security number is 536221234", "ssn", "536221234"),
        ("Social_Security_No: 536221234", "ssn", "536221234"),
        ("phone: 4155550123", "phone", "4155550123"),
        ("Reach the buyer on her mobile: 4155550123.", "phone", "4155550123"),
        ("cell at 14155550123", "phone", "14155550123"),
        ("Tel. 2125550199 (office)", "phone", "2125550199"),
        ("telephone number is 6175550100", "phone", "6175550100"),
    ],
)
def test_a_bare_number_after_its_keyword_is_found(text: str, kind: str, number: str) -> None:
    findings = scan({"note": text})
    assert [(f.kind, text[f.start : f.end]) for f in findings] == [(kind, number)]


@pytest.mark.parametrize(
    ("value", "kind", "path"),
    [
        ({"customer": {"ssn": "536221234"}}, "ssn", "$.customer.ssn"),
        ({"mobilePhone": "4155550123"}, "phone", "$.mobilePhone"),
        ({"contact_phone_numbers": ["4155550123"]}, "phone", "$.contact_phone_numbers[0]"),
        ({"SocialSecurityNumber": "536221234"}, "ssn", "$.SocialSecurityNumber"),
        # a number smuggled in a numeric field leaks the same
        ({"ssn": 536221234}, "ssn", "$.ssn"),
        ({"cell": 4155550123}, "phone", "$.cell"),
    ],
)
def test_a_bare_number_under_a_key_that_names_it_is_found(value: Any, kind: str, path: str) -> None:
    assert [(f.kind, f.path) for f in scan(value)] == [(kind, path)]
    assert summarize(scan(value)).has_pii


@pytest.mark.parametrize(
    "value",
    [
        # no keyword: order ids, PO and invoice numbers, amounts
        "PO 4500012345 for order 536221234, invoice 4155550123",
        "total 1234567890.50 and 4155550123,00",
        "amounts 1,234,567,890 and 536,221,234",
        {"order_id": "4155550123", "amount_cents": 536221234},
        {"reference": 4155550123},
        # a keyword, but the number is not one of its kind
        "ssn 078051120",  # a number the SSA retired (used in an advertisement)
        "ssn 900123456",  # area 9xx is never issued
        "ssn 4155550123",  # ten digits are not an SSN
        "phone 1234567890",  # area code cannot start with 1
        "phone 4115550123",  # N11 is a service code, not an area
        "phone 24155550123",  # an eleventh digit only as a leading 1
        # a keyword too far away, after the number, or with another id in between
        "phone: see the note below about the order we shipped on 4155550123",
        "order 4155550123 (phone order)",
        "phone order 4155550123",
        "mobile account id 4155550123",
        # glued to an id
        "phone O-4155550123",
        "ssn C536221234",
        {"note": "4155550123", "phone_ext": "12"},
    ],
)
def test_bare_numbers_without_context_are_not_findings(value: Any) -> None:
    assert scan(value) == []


def test_redaction_masks_bare_numbers_its_classes_cover() -> None:
    result = {"customer": {"ssn": 536221234, "phone": "4155550123", "order_id": "4155550123"}}
    redacted, findings = redact(result, ["pii"])
    assert redacted == {
        "customer": {"ssn": "[REDACTED:ssn]", "phone": "[REDACTED:phone]", "order_id": "4155550123"}
    }
    assert {f.kind for f in findings} == {"ssn", "phone"}
    # AND a tool without the pii class leaves them
    assert redact(result, ["financial"])[0] == result


@settings(max_examples=150, deadline=None)
@given(
    number=st.integers(min_value=10**8, max_value=10**11 - 1),
    words=st.lists(st.sampled_from(["order", "po", "invoice", "total", "qty", "batch", "ref"]), max_size=3),
)
def test_no_keyword_no_finding(number: int, words: list[str]) -> None:
    text = " ".join([*words, str(number)])
    assert scan({"note": text, "quantity": number}) == []
