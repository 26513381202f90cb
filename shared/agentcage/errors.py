"""The one exception tree of agentcage.

Every error the library raises derives from :class:`AgentcageError`. Each class carries a stable
``code`` (what an HTTP body, a ``ToolResult.error`` or an audit event says) and the HTTP ``status``
a handler answers with, so no handler needs its own mapping and none answers 500 for bad input::

    AgentcageError                          internal_error          500
    ├── ConfigurationError                  configuration_error     500
    │   ├── CatalogError                    catalog_invalid
    │   ├── AgentDefinitionError            agent_definition_invalid
    │   └── PolicyLoadError                 policy_invalid
    ├── InvalidInputError                   invalid_input           400
    │   ├── TraceContextError               invalid_traceparent
    │   ├── MethodNotAllowedError           method_not_allowed      405
    │   ├── UnsupportedMediaTypeError       unsupported_media_type  415
    │   ├── EnvelopeError                   invalid_envelope
    │   │   ├── UnsupportedSchemaVersionError  unsupported_schema_version
    │   │   ├── EnvelopeTooLargeError       envelope_too_large      413
    │   │   └── EnvelopeExpiredError        envelope_expired        410
    │   └── ToolArgumentsError              invalid_arguments
    ├── NotFoundError                       not_found               404
    │   ├── TaskNotFoundError               task_not_found
    │   ├── ApprovalNotFoundError           approval_not_found
    │   ├── ReservationNotFoundError        reservation_not_found
    │   ├── UnknownToolError                unknown_tool
    │   └── UnknownAgentError               unknown_agent
    ├── ConflictError                       conflict                409
    │   ├── InvalidTransitionError          invalid_transition
    │   ├── TaskFinishedError               task_finished
    │   ├── ApprovalAlreadyDecidedError     approval_already_decided
    │   └── ReservationStateError           reservation_state
    │       └── ReplayError                 replay
    ├── GovernanceError                     denied                  403
    │   ├── ToolNotAllowedError             tool_not_allowed
    │   ├── PolicyDeniedError               policy_denied
    │   ├── ApprovalRequiredError           approval_required
    │   ├── ApprovalInvalidError            approval_invalid
    │   │   ├── ApprovalExpiredError        approval_expired        410
    │   │   ├── ApprovalMismatchError       approval_mismatch
    │   │   └── SelfApprovalError           self_approval
    │   ├── InspectionBlockedError          sensitive_data_blocked
    │   └── SenderMismatchError             sender_mismatch
    ├── BudgetError                         budget                  429
    │   ├── BudgetExceededError             budget_exceeded
    │   ├── OverspendError                  overspend
    │   ├── CircuitOpenError                circuit_open            503
    │   └── LoopDetectedError               loop_detected
    ├── ModelError                          model_error             502
    │   ├── ModelTimeoutError               model_timeout           504
    │   └── ModelRateLimitError             model_rate_limited      429
    ├── RetryLaterError                     retry_later             503
    ├── AuthenticationError                 unauthenticated         401
    └── TransportError                      transport_error         502
        ├── FederationError                 federation_failed
        └── LedgerUnavailableError          ledger_unavailable      503

A subclass that does not set ``code``/``status`` inherits its parent's, so a new error added in
the right place is mapped correctly without touching a handler.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AgentcageError",
    "ConfigurationError",
    "CatalogError",
    "AgentDefinitionError",
    "PolicyLoadError",
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
    "GovernanceError",
    "ToolNotAllowedError",
    "PolicyDeniedError",
    "ApprovalRequiredError",
    "ApprovalInvalidError",
    "ApprovalExpiredError",
    "ApprovalMismatchError",
    "SelfApprovalError",
    "InspectionBlockedError",
    "SenderMismatchError",
    "BudgetError",
    "BudgetExceededError",
    "OverspendError",
    "CircuitOpenError",
    "LoopDetectedError",
    "ModelError",
    "ModelTimeoutError",
    "ModelRateLimitError",
    "RetryLaterError",
    "AuthenticationError",
    "TransportError",
    "FederationError",
    "LedgerUnavailableError",
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


class GovernanceError(AgentcageError):
    """The governance gate refused a call."""

    code = "denied"
    status = 403


class ToolNotAllowedError(GovernanceError):
    """The tool is not in the agent's toolset."""

    code = "tool_not_allowed"


class PolicyDeniedError(GovernanceError):
    """The Cedar policy denied the call; ``details["policies"]`` names the deciding policies."""

    code = "policy_denied"


class ApprovalRequiredError(GovernanceError):
    """The call needs a human approval bound to its exact arguments."""

    code = "approval_required"


class ApprovalInvalidError(GovernanceError):
    """The approval carried by a call does not authorise it."""

    code = "approval_invalid"


class ApprovalExpiredError(ApprovalInvalidError):
    """The approval has expired."""

    code = "approval_expired"
    status = 410


class ApprovalMismatchError(ApprovalInvalidError):
    """The approval was granted for other arguments, another tool or another task."""

    code = "approval_mismatch"


class SelfApprovalError(ApprovalInvalidError):
    """The approver is the agent itself."""

    code = "self_approval"


class InspectionBlockedError(GovernanceError):
    """Inspection found PII or secrets in arguments bound for a tool that may not receive them."""

    code = "sensitive_data_blocked"


class SenderMismatchError(GovernanceError):
    """The queue message's sender (role session) does not name the envelope's task."""

    code = "sender_mismatch"


class BudgetError(AgentcageError):
    """A budget or breaker stops the call."""

    code = "budget"
    status = 429


class BudgetExceededError(BudgetError):
    """Reserving this would pass a task limit; ``details["limit"]`` names which."""

    code = "budget_exceeded"


class OverspendError(BudgetError):
    """A settlement reported more than was reserved; recorded, never silently accepted."""

    code = "overspend"


class CircuitOpenError(BudgetError):
    """The tool's circuit breaker is open."""

    code = "circuit_open"
    status = 503


class LoopDetectedError(BudgetError):
    """The same tool with the same arguments was called too many times in one task."""

    code = "loop_detected"


class ModelError(AgentcageError):
    """The model provider failed."""

    code = "model_error"
    status = 502


class ModelTimeoutError(ModelError):
    """The model call timed out."""

    code = "model_timeout"
    status = 504


class ModelRateLimitError(ModelError):
    """The model provider rate-limited the call."""

    code = "model_rate_limited"
    status = 429


class RetryLaterError(AgentcageError):
    """The message cannot be decided yet (another delivery of it may still be running): leave it queued."""

    code = "retry_later"
    status = 503


class AuthenticationError(AgentcageError):
    """The caller's identity is missing or invalid."""

    code = "unauthenticated"
    status = 401


class TransportError(AgentcageError):
    """Sending to a queue, a service or another cloud failed."""

    code = "transport_error"
    status = 502


class FederationError(TransportError):
    """Getting or exchanging a workload identity token failed."""

    code = "federation_failed"


class LedgerUnavailableError(TransportError):
    """The ledger's store did not answer in time (locked, throttled or unreachable); retry later."""

    code = "ledger_unavailable"
    status = 503
