"""Identifiers that are safe everywhere they travel.

A task id becomes an STS ``RoleSessionName`` (CloudTrail and SQS ``SenderId`` then name the task), so
every identifier is restricted to what that field accepts: 2-64 characters of ``[A-Za-z0-9_+=,.@-]``.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import StringConstraints

__all__ = ["IDENTIFIER_PATTERN", "Identifier", "ToolName", "new_id"]

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_+=,.@-]{1,63}$"
TOOL_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
ToolName = Annotated[str, StringConstraints(pattern=TOOL_NAME_PATTERN)]

_PREFIX = re.compile(r"^[a-z]{1,16}$")


def new_id(prefix: str) -> str:
    """A new random identifier such as ``task-0b5e…`` (prefix, dash, 32 hex digits)."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"id prefix must be 1-16 lowercase letters: {prefix!r}")
    return f"{prefix}-{uuid.uuid4().hex}"
