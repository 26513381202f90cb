"""Detectors for PII and secrets in one string, built to cost little on text that has none.

No single combined regex: Python's ``re`` tries every alternative at every position, which is what
makes a naive scan of 1 KB cost ~100 µs. Instead each detector is guarded by what its matches must
contain (``@`` for an email, ``eyJ`` for a JWT, ``-----BEGIN`` for a PEM key, a digit for numbers and
IBANs, a 40-character token for an AWS secret key); the guards are C-speed substring tests. Cards,
phones, SSNs and IBANs all contain a run of digits, so one digit-first regex finds the short
candidate runs (``re`` skips ahead to digits) and the specific patterns only look inside those runs.
AWS key ids start with a literal ``A``, which ``re`` also finds at C speed.

Two of those scans are cheaper still over a byte view of the text: ``str.encode("ascii", "replace")``
keeps one byte per character (``?`` for anything else) and ``bytes.translate`` maps each byte to the
class a pattern cares about, both at memory speed. The digit runs are then a regex over that view
that starts with a literal (which ``re`` skips to without testing a character class at every
position), and a 40-character token is a substring test. Both find exactly the spans the patterns
over the text find: the classes are ASCII, except the digits, which in ``re`` include other scripts'
decimal digits, so a text holding one of those is scanned the slow way.

Candidates are then confirmed by checksum: Luhn for cards, mod-97 and the country's length for
IBANs, the issuing rules for US SSNs (python-stdnum, a maintained pure-Python library that fits in a
Lambda package). Presidio was not chosen: it needs spaCy and a language model, far too heavy for a
Lambda and for a per-call budget of microseconds.

Phone numbers have no checksum; they are recognised by shape (a leading ``+`` with 8-15 digits, or
North-American / trunk-prefixed groupings with separators), a heuristic written by hand because the
maintained library for it (``phonenumbers``) is not a dependency of this project.

A bare run of digits (``536221234``, ``4155550123``) has no shape to go by, and order numbers and
amounts look the same, so it counts only *in context*: when the JSON key path of the string, or one
of the few words just before the run, says what it is (``ssn``, ``social security``, ``phone``,
``tel``, ``mobile``, ``cell``). Then nine digits are checked by the SSN issuing rules and ten or
eleven by the North American numbering plan (area and exchange codes start 2-9, no ``N11``
codes, an eleventh digit only as a leading ``1``). The pass costs nothing on text without such a run.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping

from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.us import ssn as stdnum_ssn

__all__ = ["detect"]

Span = tuple[str, int, int]

_EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}"
)
_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# A run of digits with the separators numbers are written with, and uppercase letters (IBAN BBANs).
_CANDIDATE = re.compile(r"\d[\dA-Z ().-]{5,}")
_NUMBER_RUN = re.compile(r"[+(]?\d[\d ().-]{5,26}\d")
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}")
_AKID = re.compile(r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|ROA|PKA|SCA|3T[A-Z0-9])[A-Z0-9]{16}")
_SECRET_KEY = re.compile(r"[A-Za-z0-9/+]{40}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_SSN_SHAPE = re.compile(r"\d{3}([- ])\d{2}\1\d{4}")
_CARD_SHAPE = re.compile(r"\d{4}(?:[ -]?\d{2,7}){1,4}|\d{13,19}")
_PHONE_SHAPES = re.compile(
    r"\+\d[\d ().-]{6,20}\d"  # international
    r"|(?:1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # North American
    r"|0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}"  # trunk prefix 0 (UK, EU)
)
# A bare run of 9-11 digits: not part of a longer number, an amount ("1234567890.50") or a list
# of thousands ("1,234,567,890").
_BARE_RUN = re.compile(r"(?<![\d.,])\d{9,11}(?!\d|[.,]\d)")
_SSN_WORDS = r"ssns?|social[\s_-]*security(?:[\s_-]*(?:numbers?|nos?))?"
_PHONE_WORDS = r"(?:tele?)?phones?|tel|mobiles?|cell(?:ular|phone)?s?"
_KEYWORD = re.compile(rf"(?<![a-z0-9])(?:(?P<ssn>{_SSN_WORDS})|(?P<phone>{_PHONE_WORDS}))(?![a-z])")
_KEYWORD_HINTS = ("ssn", "social", "phone", "tel", "mobile", "cell")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORDS_BETWEEN = re.compile(r"[a-z0-9]+")
_CONTEXT_CHARS = 48  # how far back a keyword may be ...
_CONTEXT_WORDS = 3  # ... and how many words may stand between it and the number ("phone number is")
# Words that say the number after them is something else ("phone order 4155550123").
_OTHER_IDS = frozenset(
    {"order", "orders", "id", "ref", "reference", "invoice", "account", "po", "sku", "ticket", "tracking"}
)
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGITS = frozenset("0123456789")


def _byte_classes(classes: Mapping[bytes, bytes]) -> bytes:
    """A ``bytes.translate`` table: each byte of a key to its value, every other byte to ``.``."""
    table = bytearray(b"." * 256)
    for members, symbol in classes.items():
        for byte in members:
            table[byte] = symbol[0]
    return bytes(table)


_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_DIGITS = b"0123456789"
# _CANDIDATE over the byte view: "d" a digit, "s" an uppercase letter or a separator.
_CANDIDATE_TABLE = _byte_classes({_ASCII_DIGITS: b"d", _UPPER + b" ().-": b"s"})
_CANDIDATE_VIEW = re.compile(rb"d[ds]{5,}")
_OTHER_DIGIT = re.compile(r"[^\D0-9]")  # a decimal digit that is not ASCII
# _SECRET_KEY's class as "k": a secret key needs 40 of them in a row.
_KEY_TABLE = _byte_classes({_UPPER + _UPPER.lower() + _ASCII_DIGITS + b"/+": b"k"})
_KEY_RUN = b"k" * 40


def _glued(text: str, start: int, end: int, *, extra: str = "") -> bool:
    """Whether the match is part of a longer token (an id such as ``O-12345678`` or ``vol-0a1b…``)."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if before in _WORD or before in extra or after in _WORD or after in extra:
        return True
    return before == "-" and start > 1 and text[start - 2] in _WORD


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch in _DIGITS)


def _keyword_kinds(text: str) -> set[str]:
    """Which kinds (``ssn``, ``phone``) the keywords in ``text`` name."""
    return {kind for match in _KEYWORD.finditer(text) for kind, word in match.groupdict().items() if word}


@functools.lru_cache(maxsize=4096)
def _path_kinds(path: str) -> frozenset[str]:
    # "$.customer.mobilePhone" and "$.contact_ssn[0]" -> words the keyword pattern can see. Cached:
    # the same few key paths come back on every call of the same tool.
    return frozenset(_keyword_kinds(_CAMEL.sub(" ", path).lower().replace("_", " ")))


def _kinds_before(text: str, start: int) -> set[str]:
    """The kinds named by a keyword at most a few words before ``start``."""
    window = text[max(0, start - _CONTEXT_CHARS) : start].lower()
    kinds: set[str] = set()
    if not any(hint in window for hint in _KEYWORD_HINTS):  # substring tests before any regex
        return kinds
    window = window.replace("_", " ")
    for match in _KEYWORD.finditer(window):
        between = _WORDS_BETWEEN.findall(window, match.end())
        if len(between) <= _CONTEXT_WORDS and _OTHER_IDS.isdisjoint(between):
            kinds |= {kind for kind, word in match.groupdict().items() if word}
    return kinds


def _is_nanp(digits: str) -> bool:
    """A North American number: [1] area code, exchange, line; area and exchange start 2-9, not N11."""
    if len(digits) == 11:
        if digits[0] != "1":
            return False
        digits = digits[1:]
    if len(digits) != 10:
        return False
    area, exchange = digits[:3], digits[3:6]
    return area[0] in "23456789" and exchange[0] in "23456789" and area[1:] != "11" and exchange[1:] != "11"


def _in_context(text: str, base: int, raw: str, path: str) -> Iterator[Span]:
    """SSNs and phone numbers written as bare digits, where the key path or the words just before
    say what they are."""
    for match in _BARE_RUN.finditer(raw):
        digits = match.group()
        start, end = base + match.start(), base + match.end()
        kinds = _path_kinds(path) | _kinds_before(text, start)
        if "ssn" in kinds and len(digits) == 9 and stdnum_ssn.is_valid(digits):
            yield "ssn", start, end
        elif "phone" in kinds and _is_nanp(digits):
            yield "phone", start, end


def _numbers(text: str, base: int, segment: str, path: str) -> Iterator[Span]:
    for run in _NUMBER_RUN.finditer(segment):
        start, end = base + run.start(), base + run.end()
        if _glued(text, start, end):
            continue
        raw = run.group()
        if _SSN_SHAPE.fullmatch(raw) and stdnum_ssn.is_valid(_digits(raw)):
            yield "ssn", start, end
            continue
        digits = _digits(raw)
        if (
            _CARD_SHAPE.fullmatch(raw)
            and 13 <= len(digits) <= 19
            and digits[0] in "23456"
            and luhn.is_valid(digits)
        ):
            yield "card", start, end
            continue
        # A run may hold more than one number ("415-555-0100 123-45-6789"): look inside it.
        for inner in _SSN_SHAPE.finditer(raw):
            if inner.span() != (0, len(raw)) and stdnum_ssn.is_valid(_digits(inner.group())):
                yield "ssn", start + inner.start(), start + inner.end()
        for inner in _PHONE_SHAPES.finditer(raw):
            if 8 <= len(_digits(inner.group())) <= 15 and not _SSN_SHAPE.fullmatch(inner.group()):
                yield "phone", start + inner.start(), start + inner.end()
        if len(digits) >= 9:
            yield from _in_context(text, start, raw, path)


def _ascii_view(text: str) -> bytes:
    """The text as one byte per character, ``?`` for each one outside ASCII."""
    return text.encode("ascii", "replace")


def _candidate_spans(text: str) -> Iterator[tuple[int, int]]:
    """The spans of :data:`_CANDIDATE` in ``text``, over the byte view unless a decimal digit of
    another script (which the pattern's digits include and the view cannot show) is in the text."""
    if not text.isascii() and _OTHER_DIGIT.search(text):
        return (run.span() for run in _CANDIDATE.finditer(text))
    view = _ascii_view(text).translate(_CANDIDATE_TABLE)
    return (run.span() for run in _CANDIDATE_VIEW.finditer(view))


def _candidates(text: str, path: str) -> Iterator[Span]:
    for run_start, end in _candidate_spans(text):
        start = run_start
        # Widen to what precedes the digits: an IBAN's country code, a phone's "+" or "(".
        if start >= 2 and text[start - 2 : start].isupper() and text[start - 2 : start].isalpha():
            start -= 2
        elif start >= 1 and text[start - 1] in "+(":
            start -= 1
        segment = text[start:end]
        for match in _IBAN.finditer(segment):
            if start + match.start() == 0 or text[start + match.start() - 1] not in _WORD:
                found = _iban(text, start + match.start(), start + match.end())
                if found is not None:
                    yield found
        yield from _numbers(text, start, segment, path)


def _iban(text: str, start: int, end: int) -> Span | None:
    """The longest valid IBAN at ``start`` inside the greedy candidate ``text[start:end]``."""
    candidate = text[start:end]
    positions = [i for i, ch in enumerate(candidate) if ch != " "]
    compact = candidate.replace(" ", "")
    for length in range(min(len(compact), 34), 14, -1):
        stop = start + positions[length - 1] + 1
        if stop < len(text) and text[stop] in _WORD:
            continue
        if stdnum_iban.is_valid(compact[:length]):
            return "iban", start, stop
    return None


def _aws_key_ids(text: str) -> Iterator[Span]:
    for match in _AKID.finditer(text):
        if not _glued(text, *match.span()):
            yield "aws_access_key_id", *match.span()


def _secret_keys(text: str) -> Iterator[Span]:
    for match in _SECRET_KEY.finditer(text):
        start, end = match.span()
        key = match.group()
        if _glued(text, start, end, extra="/+="):
            continue
        if _HEX.fullmatch(key):  # a SHA-1 or other hex digest, not a key
            continue
        if any(c.islower() for c in key) and any(c.isupper() for c in key) and any(c.isdigit() for c in key):
            yield "aws_secret_access_key", start, end


def detect(text: str, path: str = "") -> list[Span]:
    """``(kind, start, end)`` of every PII or secret in ``text``; ``path`` is the JSON path of the
    string (``$.customer.ssn``), context for numbers written as bare digits."""
    found: list[Span] = []
    if "@" in text:
        found.extend(("email", *m.span()) for m in _EMAIL.finditer(text) if not _glued(text, *m.span()))
    if "-----BEGIN" in text:
        found.extend(("private_key", *m.span()) for m in _PEM.finditer(text))
    if "eyJ" in text:
        found.extend(("jwt", *m.span()) for m in _JWT.finditer(text))
    if not _DIGITS.isdisjoint(text):
        found.extend(_candidates(text, path))
    if "A" in text:
        found.extend(_aws_key_ids(text))
    if len(text) >= 40 and _KEY_RUN in _ascii_view(text).translate(_KEY_TABLE):
        found.extend(_secret_keys(text))
    found.sort(key=lambda span: span[1])
    return found
