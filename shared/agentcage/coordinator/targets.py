"""Resolving the tags of the resource a call acts on (``x-agentcage-target``), for the policy.

A destructive call's policy needs the target's tags *as the service reports them*, never as the model
claims them. A :class:`TargetResolver` reads them with the operation the catalog names
(``resolve_with``, a read tool). When they cannot be read the resolver answers ``None`` and the policy
fails closed (``destructive-forbidden-on-unknown-target``): an unresolvable target is never deleted.
The id and the answer are typed by :func:`agentcage.policy.tags.target_id_of` and
:func:`agentcage.policy.tags.reported_tags`, the functions the AWS executor reads its targets with, so
both sides know (or do not know) a target's tags alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from agentcage.errors import AgentcageError
from agentcage.policy.tags import reported_tags, target_id_of
from agentcage.tools.openapi import TargetSpec

__all__ = ["NoTargetResolver", "ReadToolTargetResolver", "TargetResolver", "ToolReader"]

_log = logging.getLogger(__name__)

ToolReader = Callable[[str, Mapping[str, Any]], Any]
"""Calls a read tool by name with arguments and returns its JSON result (raises on failure)."""


class TargetResolver(Protocol):
    """Answers the tags of the resource a proposed call targets, or ``None`` when unknown."""

    def resolve(self, spec: TargetSpec, args: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The target's tags (a mapping), or ``None``: the policy then refuses destructive calls."""
        ...


class NoTargetResolver:
    """Resolves nothing: every destructive call is refused by the fail-closed policy."""

    def resolve(self, spec: TargetSpec, args: Mapping[str, Any]) -> Mapping[str, Any] | None:  # noqa: ARG002
        """Always ``None``."""
        return None


class ReadToolTargetResolver:
    """Reads the target with the ``resolve_with`` tool through ``reader`` (a data-service client)."""

    def __init__(self, reader: ToolReader) -> None:
        self._reader = reader

    def resolve(self, spec: TargetSpec, args: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Call ``resolve_with`` with the id argument and return its tags field (``None`` on any failure)."""
        target_id = target_id_of(args, spec.id_argument)
        if target_id is None:
            return None
        try:
            found = self._reader(spec.resolve_with, {spec.id_argument: target_id})
        except AgentcageError as error:
            _log.warning(
                "target %s could not be resolved with %s: %s", target_id, spec.resolve_with, error.code
            )
            return None
        return reported_tags(found, spec.tags_field)
