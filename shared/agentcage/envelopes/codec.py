"""Parse and serialise envelopes with clear errors and size checks.

The strictest queue on any path is Service Bus Standard: 256 KiB for the whole message, headers and
application properties included. We keep :data:`HEADER_ALLOWANCE` of that for the properties we add
(trace carriers, message ids), so a serialised envelope may use at most
``MAX_ENVELOPE_BYTES - HEADER_ALLOWANCE`` (:data:`MAX_BODY_BYTES`). An oversized envelope raises before
it is sent; nothing is ever truncated. The same limit bounds what is parsed: one limit for both ways, so
a body accepted on receipt is never refused when it is forwarded (a body between the two limits would
parse and then fail every send, on every delivery, of a bridge).

Parsing is strict about what JSON is: ``NaN``, ``Infinity`` and ``-Infinity`` (which Python's
``json`` accepts by default) are refused, and an envelope must state its ``schema_version``. Every
failure inside :func:`parse_envelope` is an :class:`~agentcage.errors.EnvelopeError` (or its
subclass :class:`~agentcage.errors.UnsupportedSchemaVersionError`), so a consumer has one exception
to dead-letter on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from agentcage.constants import MAX_ENVELOPE_BYTES
from agentcage.envelopes.models import SUPPORTED_SCHEMA_VERSIONS, Envelope
from agentcage.errors import (
    AgentcageError,
    EnvelopeError,
    EnvelopeTooLargeError,
    UnsupportedSchemaVersionError,
)

__all__ = ["HEADER_ALLOWANCE", "MAX_BODY_BYTES", "check_size", "dump_envelope", "parse_envelope"]

HEADER_ALLOWANCE = 8 * 1024
MAX_BODY_BYTES = MAX_ENVELOPE_BYTES - HEADER_ALLOWANCE

E = TypeVar("E", bound=Envelope)


def check_size(body: str | bytes, *, limit: int = MAX_BODY_BYTES) -> int:
    """The body's size in bytes; :class:`EnvelopeTooLargeError` when it passes ``limit``."""
    size = len(body.encode("utf-8")) if isinstance(body, str) else len(body)
    if size > limit:
        raise EnvelopeTooLargeError(
            f"envelope is {size} bytes; the limit on this path is {limit} bytes",
            details={"size": size, "limit": limit},
        )
    return size


def dump_envelope(envelope: Envelope, *, limit: int = MAX_BODY_BYTES) -> str:
    """The envelope as compact JSON, size-checked."""
    body = envelope.model_dump_json()
    check_size(body, limit=limit)
    return body


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _decode(raw: bytes | str | Mapping[str, Any]) -> object:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as error:
            raise EnvelopeError("envelope is not UTF-8") from error
    if not isinstance(raw, str):
        raise EnvelopeError(f"envelope must be JSON text or an object, not {type(raw).__name__}")
    check_size(raw, limit=MAX_BODY_BYTES)
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError as error:
        raise EnvelopeError("envelope JSON is nested too deeply") from error
    except ValueError as error:
        raise EnvelopeError(f"envelope is not valid JSON: {error}") from error


def parse_envelope(model: type[E], raw: bytes | str | Mapping[str, Any]) -> E:
    """Validate ``raw`` as ``model``; any problem raises :class:`EnvelopeError` listing each one
    (:class:`UnsupportedSchemaVersionError` when ``schema_version`` is missing or unknown)."""
    data = _decode(raw)
    if not isinstance(data, dict):
        raise EnvelopeError(f"{model.__name__} must be a JSON object, not {type(data).__name__}")
    if "schema_version" not in data:
        raise UnsupportedSchemaVersionError(
            f"invalid {model.__name__}: schema_version is missing; an envelope must state its "
            f"version (supported: {sorted(SUPPORTED_SCHEMA_VERSIONS)})",
            details={"schema_version": None},
        )
    version = data["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_SCHEMA_VERSIONS:
        raise UnsupportedSchemaVersionError(
            f"{model.__name__} schema_version {version!r} is not supported "
            f"(supported: {sorted(SUPPORTED_SCHEMA_VERSIONS)})",
            details={"schema_version": repr(version)[:64]},
        )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [
            {
                "loc": ".".join(str(part) for part in item["loc"]) or "$",
                "msg": item["msg"],
                "type": item["type"],
            }
            for item in error.errors(include_url=False, include_input=False)
        ]
        summary = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems[:5])
        raise EnvelopeError(f"invalid {model.__name__}: {summary}", details={"problems": problems}) from None
    except RecursionError as error:
        raise EnvelopeError("envelope is nested too deeply") from error
    except EnvelopeError:
        raise
    except (AgentcageError, ValueError, TypeError) as error:  # raised by a validator, not wrapped
        raise EnvelopeError(f"invalid {model.__name__}: {error}") from error
