"""The MCP gateway's configuration, read once: explicit values, then ``AGENTCAGE_MCP_*``, then defaults."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from agentcage.constants import (
    ENVIRONMENT_ENV,
    MCP_AUTHORIZATION_SERVER_ENV,
    MCP_CALLERS_ENV,
    MCP_SCOPES_ENV,
    MCP_WAIT_SECONDS_ENV,
    PUBLIC_BASE_URL_ENV,
)
from agentcage.errors import ConfigurationError

__all__ = ["ANY", "DEFAULT_WAIT_SECONDS", "McpSettings"]

ANY = "*"
"""As a caller: any authenticated caller; as an agent list: every agent."""
DEFAULT_WAIT_SECONDS = 20.0
"""How long a ``tools/call`` waits for the executor's result before it answers ``pending``."""


@dataclass(frozen=True, slots=True)
class McpSettings:
    """Who may use which agent, how long a call waits, and what the protected-resource metadata says."""

    callers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Caller id (or ``*``) -> the agents it may use (``("*",)``: every agent)."""
    wait_seconds: float = DEFAULT_WAIT_SECONDS
    environment: str = "dev"
    public_base_url: str = ""
    authorization_servers: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.wait_seconds <= 200:
            raise ConfigurationError("the MCP wait must be 0-200 s (the Functions HTTP limit is 230 s)")

    @property
    def local(self) -> bool:
        """The local runtime (a development principal may call from loopback)."""
        return self.environment == "local"

    def agents_for(self, caller_id: str, *, development: bool) -> tuple[str, ...]:
        """The agents ``caller_id`` may use (``("*",)`` for all; empty: none)."""
        named = self.callers.get(caller_id)
        if named is not None:
            return named
        if development and self.local:
            return (ANY,)
        return self.callers.get(ANY, ())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> McpSettings:
        """Settings from the app settings (``ConfigurationError`` naming the variable when malformed)."""
        env = os.environ if environ is None else environ
        raw_wait = env.get(MCP_WAIT_SECONDS_ENV)
        try:
            wait = float(raw_wait) if raw_wait else DEFAULT_WAIT_SECONDS
        except ValueError:
            raise ConfigurationError(f"{MCP_WAIT_SECONDS_ENV} must be a number of seconds") from None
        server = (env.get(MCP_AUTHORIZATION_SERVER_ENV) or "").strip()
        return cls(
            callers=_callers(env.get(MCP_CALLERS_ENV)),
            wait_seconds=wait,
            environment=(env.get(ENVIRONMENT_ENV) or "dev").strip().lower(),
            public_base_url=(env.get(PUBLIC_BASE_URL_ENV) or "").rstrip("/"),
            authorization_servers=(server,) if server else (),
            scopes=tuple((env.get(MCP_SCOPES_ENV) or "").split()),
        )


def _callers(raw: str | None) -> dict[str, tuple[str, ...]]:
    if not raw or not raw.strip():
        return {}
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise ConfigurationError(f"{MCP_CALLERS_ENV} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{MCP_CALLERS_ENV} must be a JSON object: caller -> agents")
    callers: dict[str, tuple[str, ...]] = {}
    for caller, agents in document.items():
        if agents == ANY:
            callers[str(caller)] = (ANY,)
        elif isinstance(agents, list) and all(isinstance(a, str) for a in agents):
            callers[str(caller)] = tuple(agents)
        else:
            raise ConfigurationError(f"{MCP_CALLERS_ENV}: {caller!r} must map to a list of agents or '*'")
    return callers
