"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and the argument digest an approval binds.

RFC 8785 fixes one serialisation per JSON value, so a verifier in any language (the RFC has
implementations in JavaScript, Go, Java, .NET, ...) computes the same bytes and therefore the same
digest: object keys sorted by their UTF-16 code units, no insignificant whitespace, UTF-8, strings with
the minimal escapes, and numbers written as ECMAScript writes an IEEE 754 double (``1.0`` and ``1e0``
are ``1``, ``-0.0`` is ``0``, ``1e21`` is ``1e+21``, ``1e-7`` is ``1e-7``). The serialisation itself is
the ``rfc8785`` package's; this module owns the translation of its refusals into the library's
:class:`~agentcage.errors.InvalidInputError` and the one digest every side computes:
:func:`args_digest`, the lowercase hex SHA-256 of :func:`canonical_json` of a call's arguments.

Values RFC 8785 cannot represent are refused: NaN and infinities, strings and object keys that are not
valid Unicode (lone surrogates) and non-string keys. An integer outside I-JSON's exact range
(``±(2**53 - 1)``) is read by every other language as the double it rounds to; :func:`args_digest`
refuses it, since two different amounts would otherwise share one digest, while :func:`canonical_json`
by default writes it as that double (the prompt digest of a thought record may hold a model's or a
service's big integers, and must not fail the step).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

import rfc8785

from agentcage.errors import InvalidInputError

__all__ = ["MAX_EXACT_INTEGER", "args_digest", "canonical_json", "canonicalize"]

MAX_EXACT_INTEGER: Final = 2**53 - 1
"""The largest integer an IEEE 754 double holds exactly (I-JSON, RFC 7493 §2.2); RFC 8785 needs no more."""


def _as_doubles(value: Any) -> Any:
    """``value`` with every integer beyond :data:`MAX_EXACT_INTEGER` turned into the double it rounds to."""
    if isinstance(value, bool) or not isinstance(value, int | Mapping | list | tuple):
        return value
    if isinstance(value, int):
        return float(value) if abs(value) > MAX_EXACT_INTEGER else value
    if isinstance(value, Mapping):
        return {key: _as_doubles(item) for key, item in value.items()}
    return [_as_doubles(item) for item in value]


def _writes_like_rfc8785(value: Any) -> bool:
    """Whether the standard library's sorted, compact JSON of ``value`` is byte for byte RFC 8785's.

    It is when the value holds no float (ECMAScript number formatting differs from Python's), only
    integers a double holds exactly, and only ASCII keys (for them code-point order, Python's
    ``sort_keys``, is UTF-16 order); strings escape alike (the package took Python's escape table).
    The gate digests every proposed call's arguments, and ``json``'s C encoder is ~3x faster than
    the package's pure-Python one on such arguments, the common case (ids, text, integer cents).
    """
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -MAX_EXACT_INTEGER <= item <= MAX_EXACT_INTEGER:
                continue
            return False
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                stack.append(child)
            continue
        if kind is list or kind is tuple:
            stack.extend(item)
            continue
        return False
    return True


def canonical_json(value: Any, *, exact: bool = False) -> bytes:
    """The RFC 8785 canonical UTF-8 encoding of ``value``; :class:`InvalidInputError` when it has none.

    Integers beyond :data:`MAX_EXACT_INTEGER` are written as the doubles they round to, unless
    ``exact``, which refuses them (a digest that authorises a call must tell every amount apart).
    """
    if _writes_like_rfc8785(value):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        except (UnicodeEncodeError, RecursionError):
            pass  # a lone surrogate, or too deep: the package's refusal below says which
    if isinstance(value, Mapping) and not isinstance(value, dict):
        value = dict(value)  # rfc8785 serialises dicts; a read-only mapping means the same object
    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError as error:
        if not exact:
            return canonical_json(_as_doubles(value), exact=True)
        raise InvalidInputError(
            f"{error}: integers beyond ±{MAX_EXACT_INTEGER} have no exact JSON number; send them as strings"
        ) from error
    except rfc8785.CanonicalizationError as error:
        raise InvalidInputError(f"not a canonical JSON value: {error}") from error
    except UnicodeEncodeError as error:
        # The package refuses a lone surrogate in a string value, but sorts object keys by encoding
        # them to UTF-16 first, which raises the codec's error for one in a key: the same refusal.
        raise InvalidInputError(
            "not a canonical JSON value: an object key is not valid Unicode (a lone surrogate)"
        ) from error
    except RecursionError as error:
        raise InvalidInputError("JSON value is nested too deeply") from error


def canonicalize(value: Any) -> Any:
    """The JSON value ``value`` denotes once canonicalised (``1.0`` -> ``1``, keys in canonical order)."""
    return json.loads(canonical_json(value))


def args_digest(args: Mapping[str, Any]) -> str:
    """The lowercase hex SHA-256 of the RFC 8785 canonical JSON of a tool call's arguments.

    The one digest an approval, a reservation, a tool request and the loop counter bind; every side
    (coordinator, executor, ledger checks) calls this function and none computes its own.
    """
    return hashlib.sha256(canonical_json(args, exact=True)).hexdigest()
