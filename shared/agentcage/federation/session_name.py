"""The STS ``RoleSessionName`` that names a task, so CloudTrail and SQS ``SenderId`` name it too.

STS accepts 2-64 characters of ``[A-Za-z0-9_+=,.@-]``. The rule, in three cases:

1. A normal task id (agentcage's identifier pattern: an alphanumeric first character, then 1-63 of the
   STS characters) is used **exactly**.
2. Anything else is written ``=Q`` followed by the id with every character outside
   ``[A-Za-z0-9_+,.@-]`` (including ``=``) replaced by ``=XX`` per UTF-8 byte (upper-case hex, as
   quoted-printable does). It is **reversible**: :func:`task_id_from_session_name` gives the id back.
   It applies while the escaped form fits in 62 characters (any ASCII id of up to 20 characters).
3. If that is longer than 64 characters, the name is ``=H``, the first (at most) 45 characters of the
   escaped form, ``@`` and 16 hex digits of the id's SHA-256 (so two long ids do not share a name). It
   is not reversible; compare with :func:`session_name_matches`, which recomputes the name.

Case 1 names never start with ``=``; case 2 and 3 names always do, so the cases cannot collide.
"""

from __future__ import annotations

import hashlib
import re

from agentcage.envelopes.ids import IDENTIFIER_PATTERN
from agentcage.errors import InvalidInputError

__all__ = [
    "role_session_name",
    "task_id_from_session_name",
    "session_name_matches",
    "session_name_from_sender_id",
    "role_id_from_sender_id",
    "MAX_SESSION_NAME",
]

MAX_SESSION_NAME = 64
_EXACT = re.compile(IDENTIFIER_PATTERN)
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+,.@-")
_ESCAPE = re.compile(r"=([0-9A-F]{2})")
_SHORT_PREFIX_CHARS = 45


def _escape(task_id: str) -> str:
    return "".join(
        char if char in _SAFE else "".join(f"={byte:02X}" for byte in char.encode()) for char in task_id
    )


def role_session_name(task_id: str) -> str:
    """The ``RoleSessionName`` for ``task_id`` (the rule is in the module docstring)."""
    if not isinstance(task_id, str) or not task_id:
        raise InvalidInputError("a task id is needed for the role session name")
    if _EXACT.match(task_id):
        return task_id
    escaped = _escape(task_id)
    if len(escaped) + 2 <= MAX_SESSION_NAME:
        return "=Q" + escaped
    prefix = escaped[:_SHORT_PREFIX_CHARS]
    cut = prefix.rfind("=", len(prefix) - 2)
    if cut != -1:  # never end the prefix inside an =XX escape
        prefix = prefix[:cut]
    return f"=H{prefix}@{hashlib.sha256(task_id.encode()).hexdigest()[:16]}"


def task_id_from_session_name(session_name: str) -> str | None:
    """The task id a session name was made from, or ``None`` when it was shortened (case 3)."""
    if session_name.startswith("=H"):
        return None
    if not session_name.startswith("=Q"):
        return session_name
    encoded, out, index = session_name[2:], bytearray(), 0
    while index < len(encoded):
        match = _ESCAPE.match(encoded, index)
        if match:
            out.append(int(match.group(1), 16))
            index = match.end()
        else:
            out += encoded[index].encode()
            index += 1
    try:
        return out.decode()
    except UnicodeDecodeError:
        return None


def session_name_matches(session_name: str, task_id: str) -> bool:
    """True when ``session_name`` is the role session name of ``task_id``."""
    try:
        return role_session_name(task_id) == session_name
    except InvalidInputError:
        return False


def role_id_from_sender_id(sender_id: str | None) -> str | None:
    """The role's unique id (``AROA...``) in an SQS ``SenderId`` of a role session, or ``None``."""
    if not sender_id or ":" not in sender_id:
        return None
    principal, _, session = sender_id.partition(":")
    return principal if principal.startswith("AROA") and session else None


def session_name_from_sender_id(sender_id: str | None) -> str | None:
    """The role session name in an SQS ``SenderId`` (``AROA...:<session>``), or ``None`` if there is none."""
    if not sender_id or ":" not in sender_id:
        return None
    principal, _, session = sender_id.partition(":")
    return session if principal.startswith("AROA") and session else None
