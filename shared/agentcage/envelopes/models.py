"""The messages that cross queues and clouds: ``AgentStep``, ``ToolRequest``, ``ToolResult``.

Every envelope carries ``schema_version``; a version this code does not know, an unknown field, a
missing field, a malformed value or a number JSON cannot carry (NaN, infinities) is rejected (see
:func:`agentcage.envelopes.codec.parse_envelope`, which turns that into
:class:`~agentcage.errors.EnvelopeError`, and also refuses an envelope that does not state its
``schema_version``). Code that builds an envelope gets the current version by default, and
:func:`~agentcage.envelopes.codec.dump_envelope` always writes it. Envelopes are immutable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from agentcage.envelopes.canonical import args_digest
from agentcage.envelopes.ids import Identifier, ToolName
from agentcage.errors import AgentcageError
from agentcage.trace.w3c import TraceContext, parse_traceparent

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "AgentStep",
    "Envelope",
    "RequesterClaim",
    "ToolError",
    "ToolRequest",
    "ToolResult",
    "ToolStatus",
]

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})

ToolStatus = Literal["ok", "error", "denied", "circuit_open"]


class Envelope(BaseModel):
    """Base of every queue message: strict, frozen, versioned."""

    # allow_inf_nan=False: NaN and infinities are not JSON; pydantic would otherwise accept them and
    # write them back as null, so a message would change meaning on its way through a queue.
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=False, validate_default=True, allow_inf_nan=False
    )

    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in SUPPORTED_SCHEMA_VERSIONS:
            raise ValueError(
                f"unsupported schema_version {value}; supported: {sorted(SUPPORTED_SCHEMA_VERSIONS)}"
            )
        return value


class _Traced(Envelope):
    traceparent: str

    @field_validator("traceparent")
    @classmethod
    def _valid_traceparent(cls, value: str) -> str:
        try:
            parse_traceparent(value)
        except AgentcageError as error:
            raise ValueError(error.message) from None
        return value

    @property
    def trace(self) -> TraceContext:
        """The trace context this message carries."""
        return parse_traceparent(self.traceparent)


class _HasRequester(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def roles(self) -> tuple[str, ...]: ...


class RequesterClaim(BaseModel):
    """On whose behalf a message's task runs, as the message says (the ledger's task record is the
    authority: the executor refuses a message whose claim differs from it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["person", "app", "development"]
    id: str = Field(min_length=1, max_length=256)
    roles: tuple[str, ...] = Field(default=(), max_length=64)

    @classmethod
    def of(cls, requester: _HasRequester | None) -> RequesterClaim | None:
        """The claim for a task's recorded requester (``None`` for a task that records none)."""
        if requester is None:
            return None
        return cls.model_validate(
            {"kind": requester.kind, "id": requester.id, "roles": tuple(requester.roles)}
        )


class AgentStep(_Traced):
    """Run step ``step`` of task ``task_id`` (the coordinator's agent loop) for ``requester``."""

    task_id: Identifier
    step: int = Field(ge=0, le=100_000)
    requester: RequesterClaim | None = None


class ToolRequest(_Traced):
    """An authorised tool call for the executor, bound to a reservation (and, for writes, an approval)."""

    message_id: Identifier
    task_id: Identifier
    step: int = Field(ge=0, le=100_000)
    agent_id: Identifier
    tool: ToolName
    args: dict[str, JsonValue]
    args_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    reservation_id: Identifier
    approval_id: Identifier | None = None
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    requester: RequesterClaim | None = None
    """Who the task runs for; checked against the ledger's task on receipt, never believed."""

    @model_validator(mode="after")
    def _consistent(self) -> ToolRequest:
        try:
            digest = args_digest(self.args)
        except AgentcageError as error:  # not canonical JSON; a validation error like any other
            raise ValueError(f"args: {error.message}") from None
        if self.args_digest != digest:
            raise ValueError("args_digest does not match the canonical digest of args")
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        return self

    def is_expired(self, now: datetime) -> bool:
        """Whether the request may no longer be executed at ``now``."""
        return now >= self.expires_at


class ToolError(BaseModel):
    """Why a tool call did not succeed, in the library's error codes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=64)
    message: str = Field(max_length=4096)


class ToolResult(_Traced):
    """The outcome of one ``ToolRequest``, on its way back to the coordinator."""

    message_id: Identifier
    request_id: Identifier
    task_id: Identifier
    step: int = Field(ge=0, le=100_000)
    tool: ToolName
    status: ToolStatus
    result: JsonValue = None
    error: ToolError | None = None
    completed_at: AwareDatetime

    @model_validator(mode="after")
    def _error_matches_status(self) -> ToolResult:
        if self.status == "ok" and self.error is not None:
            raise ValueError("a result with status ok carries no error")
        if self.status != "ok" and self.error is None:
            raise ValueError(f"a result with status {self.status} must carry an error")
        return self

    def summary(self) -> dict[str, Any]:
        """A short form for logs and audit events (no result payload)."""
        return {
            "request_id": self.request_id,
            "tool": self.tool,
            "status": self.status,
            "error": self.error.code if self.error else None,
        }
