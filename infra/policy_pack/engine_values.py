"""Resource properties as the policy engine delivers them, turned into plain values in one place.

Under ``pulumi preview --policy-pack``, pulumi_policy hands a policy its props wrapped in its own
proxies: ``_DictProxy`` and ``_ListProxy`` are a ``Mapping`` and a ``Sequence``, never a ``dict`` or
a ``list`` (so ``isinstance(x, list)`` is false, ``json.dumps`` refuses them and a set of them is
unhashable), and reading a value that is not known until apply raises ``UnknownValueError``. The
rules are plain functions over builtins: the policies convert every resource's props once with
:func:`plain`, and a value not known yet becomes :data:`UNKNOWN`, which the rules skip rather than
guess (the same value is checked again by ``pulumi up``, when it is known).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from pulumi_policy.proxy import UnknownValueError

__all__ = ["UNKNOWN", "Unknown", "plain"]


class Unknown(Enum):
    """The type of :data:`UNKNOWN`: a value the engine cannot know during a preview."""

    UNKNOWN = "unknown until apply"


UNKNOWN = Unknown.UNKNOWN


def plain(value: Any) -> Any:
    """``value`` with every mapping as a ``dict``, every sequence as a ``list`` and unknowns as UNKNOWN.

    Only the ``Mapping``/``Sequence`` interfaces are used, so it accepts pulumi_policy's proxies
    (plain or secret-preserving) as well as builtins, and never reaches into the proxies' internals.
    """
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Mapping):
        return {key: _read(value, key) for key in value}
    if isinstance(value, Sequence):
        return [_read(value, index) for index in range(len(value))]
    return value


def _read(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return UNKNOWN
