"""Failures of what agentcage calls (the model, queues, clouds); messages to retry later.

The whole tree, with codes and statuses, is drawn in :mod:`agentcage.errors`.
"""

from __future__ import annotations

from agentcage.errors.base import AgentcageError

__all__ = [
    "ModelError",
    "ModelTimeoutError",
    "ModelRateLimitError",
    "RetryLaterError",
    "TransportError",
    "FederationError",
    "LedgerUnavailableError",
]


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
