"""Scanning nested JSON values for PII and secrets, and redacting tool results by data class."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from stdnum import luhn

from agentcage.inspect.detectors import detect
from agentcage.inspect.findings import KIND_CLASSES, Finding

__all__ = ["ALWAYS_REDACTED", "mask", "redact", "scan", "walk_strings"]

# Secrets are masked in every tool result, whatever the tool's declared data classes.
ALWAYS_REDACTED = frozenset({"secrets"})
_MAX_DEPTH = 64
_CARD_MIN = 10**12  # an integer with 13+ digits could be a card number
_CONTEXT_MIN = 10**8  # 9-12 digits: an SSN or a phone number, if its key says so


def walk_strings(value: Any, path: str = "$", depth: int = 0) -> Iterator[tuple[str, str]]:
    """``(json_path, text)`` for every string in ``value`` (and every integer long enough to be a
    card number, or an SSN or phone number under a key that says so, as its decimal text). Deeper
    than 64 levels is not walked further: JSON from a model or a service that deep is refused by
    schema validation long before it gets here."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        if depth < _MAX_DEPTH:
            for key, item in value.items():
                yield from walk_strings(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        if depth < _MAX_DEPTH:
            for index, item in enumerate(value):
                yield from walk_strings(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _CONTEXT_MIN:
        yield path, str(abs(value))


def _integer_kind(value: int, path: str) -> str | None:
    """What a whole integer is, if anything: a card number, or (in context of its key) an SSN or a
    phone number."""
    digits = str(abs(value))
    if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
        return "card"
    found = detect(digits, path)
    return found[0][0] if found and found[0][1:] == (0, len(digits)) else None


def _scan_into(findings: list[Finding], value: Any, path: str, depth: int) -> None:
    """:func:`scan` of one node, appended to ``findings``: the strings :func:`walk_strings` yields,
    in its order, without a generator per container (the gate scans every call's arguments)."""
    if isinstance(value, str):
        for kind, start, end in detect(value, path):
            findings.append(Finding(kind, path, start, end))
    elif isinstance(value, dict):
        if depth < _MAX_DEPTH:
            for key, item in value.items():
                _scan_into(findings, item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        if depth < _MAX_DEPTH:
            for index, item in enumerate(value):
                _scan_into(findings, item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _CONTEXT_MIN:
        text = str(abs(value))
        for kind, start, end in detect(text, path):
            findings.append(Finding(kind, path, start, end))


def scan(value: Any) -> list[Finding]:
    """Every PII or secret finding in a JSON value (strings anywhere in it; integers are checked as
    card numbers, and as SSNs or phone numbers under a key that names one, since a number smuggled
    in a numeric field leaks the same)."""
    findings: list[Finding] = []
    _scan_into(findings, value, "$", 0)
    return findings


def mask(kind: str) -> str:
    """What replaces a redacted span."""
    return f"[REDACTED:{kind}]"


def _redact_text(text: str, path: str, wanted: Callable[[str], bool], out: list[Finding]) -> str:
    pieces: list[str] = []
    cursor = 0
    for kind, start, end in detect(text, path):
        if start < cursor or not wanted(kind):
            continue
        out.append(Finding(kind, path, start, end))
        pieces.append(text[cursor:start])
        pieces.append(mask(kind))
        cursor = end
    if not pieces:
        return text
    pieces.append(text[cursor:])
    return "".join(pieces)


def redact(value: Any, data_classes: Collection[str]) -> tuple[Any, list[Finding]]:
    """A copy of a tool result with what its data classes cover masked, and what was masked.

    ``pii`` masks emails, phone numbers and SSNs; ``financial`` masks card numbers and IBANs;
    secrets (cloud keys, JWTs, private keys) are masked always. Spans refer to the original text.
    """
    classes = set(data_classes) | ALWAYS_REDACTED

    def wanted(kind: str) -> bool:
        return KIND_CLASSES[kind] in classes

    findings: list[Finding] = []

    def copy(node: Any, path: str, depth: int) -> Any:
        if isinstance(node, str):
            return _redact_text(node, path, wanted, findings)
        if depth >= _MAX_DEPTH:
            return node
        if isinstance(node, dict):
            return {key: copy(item, f"{path}.{key}", depth + 1) for key, item in node.items()}
        if isinstance(node, list | tuple):
            return [copy(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(node)]
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) >= _CONTEXT_MIN:
            kind = _integer_kind(node, path)
            if kind is not None and wanted(kind):
                findings.append(Finding(kind, path, 0, len(str(abs(node)))))
                return mask(kind)
        return node

    return copy(value, "$", 0), findings
