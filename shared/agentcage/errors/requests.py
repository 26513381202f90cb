"""Errors about what a caller sent or named: bad input, unknown ids, conflicts, no identity.

The whole tree, with codes and statuses, is drawn in :mod:`agentcage.errors`.
"""

from __future__ import annotations

from agentcage.errors.base import AgentcageError

__all__ = [
    "InvalidInputError",
    "TraceContextError",
    "MethodNotAllowedError",
    "UnsupportedMediaTypeError",
    "EnvelopeError",
    "UnsupportedSchemaVersionError",
    "EnvelopeTooLargeError",
    "EnvelopeExpiredError",
    "ToolArgumentsError",
    "NotFoundError",
    "TaskNotFoundError",
    "ApprovalNotFoundError",
    "ReservationNotFoundError",
    "UnknownToolError",
    "UnknownAgentError",
    "ConflictError",
    "InvalidTransitionError",
    "TaskFinishedError",
    "ApprovalAlreadyDecidedError",
    "ReservationStateError",
    "ReplayError",
    "AuthenticationError",
]


class InvalidInputError(AgentcageError):
    """Input from outside (a request, a message, a model's proposal) is malformed."""

    code = "invalid_input"
    status = 400


class TraceContextError(InvalidInputError):
    """A ``traceparent``/``AWSTraceHeader`` value does not follow its specification."""

    code = "invalid_traceparent"


class MethodNotAllowedError(InvalidInputError):
    """The path exists but does not accept this HTTP method; ``details["allow"]`` lists those it does."""

    code = "method_not_allowed"
    status = 405


class UnsupportedMediaTypeError(InvalidInputError):
    """A request body is not in a media type the endpoint accepts (JSON)."""

    code = "unsupported_media_type"
    status = 415


class EnvelopeError(InvalidInputError):
    """A queue message does not match its envelope schema."""

    code = "invalid_envelope"


class UnsupportedSchemaVersionError(EnvelopeError):
    """A queue message names a ``schema_version`` this code does not understand."""

    code = "unsupported_schema_version"


class EnvelopeTooLargeError(EnvelopeError):
    """An envelope is larger than the strictest queue on its path accepts."""

    code = "envelope_too_large"
    status = 413


class EnvelopeExpiredError(EnvelopeError):
    """A message arrived after its ``expires_at``: it is answered, never executed."""

    code = "envelope_expired"
    status = 410


class ToolArgumentsError(InvalidInputError):
    """Proposed tool arguments fail the operation's JSON schema; ``details["problems"]`` lists each."""

    code = "invalid_arguments"


class NotFoundError(AgentcageError):
    """A named record does not exist."""

    code = "not_found"
    status = 404


class TaskNotFoundError(NotFoundError):
    """No task with this id."""

    code = "task_not_found"


class ApprovalNotFoundError(NotFoundError):
    """No approval with this id."""

    code = "approval_not_found"


class ReservationNotFoundError(NotFoundError):
    """No reservation with this id."""

    code = "reservation_not_found"


class UnknownToolError(NotFoundError):
    """No catalog defines a tool with this name."""

    code = "unknown_tool"


class UnknownAgentError(NotFoundError):
    """No agent definition has this id."""

    code = "unknown_agent"


class ConflictError(AgentcageError):
    """The change conflicts with the record's current state."""

    code = "conflict"
    status = 409


class InvalidTransitionError(ConflictError):
    """A task state change the state machine does not allow."""

    code = "invalid_transition"


class TaskFinishedError(ConflictError):
    """The task is completed, halted or failed: nothing more runs on its behalf."""

    code = "task_finished"


class ApprovalAlreadyDecidedError(ConflictError):
    """The approval was already approved or denied."""

    code = "approval_already_decided"


class ReservationStateError(ConflictError):
    """The reservation is not in a state that allows this (already settled, released, expired)."""

    code = "reservation_state"


class ReplayError(ReservationStateError):
    """A tool-call reservation was already consumed: this message is a replay and executes nothing."""

    code = "replay"


class AuthenticationError(AgentcageError):
    """The caller's identity is missing or invalid."""

    code = "unauthenticated"
    status = 401
