"""Canonical JSON and the argument digest an approval is bound to.

Canonical form: object keys sorted, no insignificant whitespace, UTF-8 (not ASCII-escaped), and numbers
normalised so that equal values serialise the same way: a float with an integral value is written as
the integer (``1.0``, ``1e0`` and ``1`` all become ``1``; ``-0.0`` becomes ``0``), other floats in
Python's shortest round-trip form. NaN and infinities are not JSON and are refused. ``args_digest`` is
the lowercase hex SHA-256 of that form, so it does not depend on key order or float formatting.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from agentcage.errors import InvalidInputError

__all__ = ["args_digest", "canonical_json", "canonicalize"]


def canonicalize(value: Any) -> Any:
    """The value with numbers normalised and containers copied (keys must be strings)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{value!r} is not a JSON number")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"JSON object keys must be strings, not {type(key).__name__}")
            result[key] = canonicalize(item)
        return result
    if isinstance(value, list | tuple):
        return [canonicalize(item) for item in value]
    raise InvalidInputError(f"{type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON encoding of ``value``."""
    try:
        text = json.dumps(
            canonicalize(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except RecursionError as error:
        raise InvalidInputError("JSON value is nested too deeply") from error
    return text.encode("utf-8")


def args_digest(args: Mapping[str, Any]) -> str:
    """The lowercase hex SHA-256 of the canonical JSON of a tool call's arguments."""
    return hashlib.sha256(canonical_json(args)).hexdigest()
