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

from agentcage.errors.base import (
    AgentcageError,
    AgentDefinitionError,
    CatalogError,
    ConfigurationError,
    PolicyLoadError,
)
from agentcage.errors.governance import (
    ApprovalExpiredError,
    ApprovalInvalidError,
    ApprovalMismatchError,
    ApprovalRequiredError,
    BudgetError,
    BudgetExceededError,
    CircuitOpenError,
    GovernanceError,
    InspectionBlockedError,
    LoopDetectedError,
    OverspendError,
    PolicyDeniedError,
    SelfApprovalError,
    SenderMismatchError,
    ToolNotAllowedError,
)
from agentcage.errors.requests import (
    ApprovalAlreadyDecidedError,
    ApprovalNotFoundError,
    AuthenticationError,
    ConflictError,
    EnvelopeError,
    EnvelopeExpiredError,
    EnvelopeTooLargeError,
    InvalidInputError,
    InvalidTransitionError,
    MethodNotAllowedError,
    NotFoundError,
    ReplayError,
    ReservationNotFoundError,
    ReservationStateError,
    TaskFinishedError,
    TaskNotFoundError,
    ToolArgumentsError,
    TraceContextError,
    UnknownAgentError,
    UnknownToolError,
    UnsupportedMediaTypeError,
    UnsupportedSchemaVersionError,
)
from agentcage.errors.runtime import (
    FederationError,
    LedgerUnavailableError,
    ModelError,
    ModelRateLimitError,
    ModelTimeoutError,
    RetryLaterError,
    TransportError,
)

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
