"""The root of the error tree, and configuration errors.

The whole tree, with codes and statuses, is drawn in :mod:`agentcage.errors`.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AgentcageError",
    "ConfigurationError",
    "CatalogError",
    "AgentDefinitionError",
    "PolicyLoadError",
]


class AgentcageError(Exception):
    """Base of every error agentcage raises; carries a stable ``code`` and an HTTP ``status``."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The ``{"code", "message"}`` body (plus ``details`` when there are any)."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ConfigurationError(AgentcageError):
    """A configuration file, catalog, agent definition or policy set is invalid."""

    code = "configuration_error"


class CatalogError(ConfigurationError):
    """An OpenAPI catalog document is invalid; the message names the path of the problem."""

    code = "catalog_invalid"


class AgentDefinitionError(ConfigurationError):
    """An agent definition is invalid or names an operation no catalog defines."""

    code = "agent_definition_invalid"


class PolicyLoadError(ConfigurationError):
    """A Cedar policy or schema failed to parse or validate; carries Cedar's message."""

    code = "policy_invalid"
