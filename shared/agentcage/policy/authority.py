"""What a person may have an agent do on their behalf: limits per role, from configuration.

The policy caps every call by its task's requester (and an approval by its approver) with these
numbers, so a role's authority is configuration, not code: ``AGENTCAGE_REQUESTER_AUTHORITY`` holds a
JSON document (an explicit argument first, as everywhere, then the variable, then the defaults)::

    {"roles": {"service_rep":  {"refund_limit_cents": 25000},
               "support_lead": {"refund_limit_cents": 100000},
               "finance":      {"refund_limit_cents": 1000000},
               "operations":   {"environments": ["local", "dev", "test", "qa", "sandbox",
                                                 "preview", "staging"]}}}

A person's authority is the widest of their roles': the highest refund limit, every environment any
of them owns. A role the document does not name grants nothing. Environment names are compared in
the same normalised form as target tags (:func:`agentcage.policy.tags.normalize_tag_text`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Collection, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentcage.constants import REQUESTER_AUTHORITY_ENV
from agentcage.errors import ConfigurationError
from agentcage.policy.tags import normalize_tag_text

__all__ = ["DEFAULT_ROLE_AUTHORITY", "RequesterAuthority", "RoleAuthority", "default_authority"]

_LONG_MAX = 2**63 - 1


class RoleAuthority(BaseModel):
    """What one role (or, combined, one person) may do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    refund_limit_cents: int = Field(default=0, ge=0, le=_LONG_MAX)
    """The largest refund (in cents) this role may have an agent make, or approve."""
    environments: frozenset[str] = frozenset()
    """The environments whose resources an agent may delete for this role."""

    @field_validator("environments")
    @classmethod
    def _normalised(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(normalize_tag_text(name) for name in value if normalize_tag_text(name))


DEFAULT_ROLE_AUTHORITY: Mapping[str, RoleAuthority] = {
    "service_rep": RoleAuthority(refund_limit_cents=25_000),
    "support_lead": RoleAuthority(refund_limit_cents=100_000),
    "finance": RoleAuthority(refund_limit_cents=1_000_000),
    "operations": RoleAuthority(
        environments=frozenset({"local", "dev", "test", "qa", "sandbox", "preview", "staging"})
    ),
}
"""The authority each role has unless configuration says otherwise."""


class RequesterAuthority(BaseModel):
    """The authority of every configured role; :meth:`of` combines a person's roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: dict[str, RoleAuthority] = Field(default_factory=lambda: dict(DEFAULT_ROLE_AUTHORITY))

    def of(self, roles: Collection[str]) -> RoleAuthority:
        """The widest authority among ``roles`` (nothing for no configured role)."""
        granted = [self.roles[role] for role in roles if role in self.roles]
        return RoleAuthority(
            refund_limit_cents=max((r.refund_limit_cents for r in granted), default=0),
            environments=frozenset().union(*(r.environments for r in granted)),
        )

    @classmethod
    def from_json(cls, text: str) -> RequesterAuthority:
        """Parse the configuration document; :class:`ConfigurationError` naming what is wrong."""
        try:
            return cls.model_validate(json.loads(text))
        except (ValueError, ValidationError) as error:
            raise ConfigurationError(
                f"{REQUESTER_AUTHORITY_ENV} is not a valid authority document: {error}"
            ) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RequesterAuthority:
        """The configured document, else the defaults."""
        env = os.environ if environ is None else environ
        text = (env.get(REQUESTER_AUTHORITY_ENV) or "").strip()
        return cls.from_json(text) if text else cls()


@functools.cache
def default_authority() -> RequesterAuthority:
    """The process's authority document, read once (Lambda and Functions instances keep it)."""
    return RequesterAuthority.from_env()
