"""Deliver approval notices to a webhook, retrying, without ever blocking or losing the approval.

The approval is created in the ledger before anyone is notified; delivery is best effort with bounded
retries and backoff, and :meth:`WebhookNotifier.notify` never raises: it returns a
:class:`DeliveryOutcome` the caller records in the audit log, so a dead webhook is visible but the
approval can still be decided through the API.

Only the coordinator notifies, so ``requests`` is imported on first delivery, not with the module: the
executor imports :mod:`agentcage.approvals` for its checks, and its artifact does not carry ``requests``
(the ``azure`` extra declares it, for the coordinator).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcage.approvals.notice import ApprovalNotice, WebhookFormat, render

if TYPE_CHECKING:
    import requests

__all__ = ["DeliveryOutcome", "WebhookNotifier"]

_log = logging.getLogger("agentcage.approvals")
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What happened to one notification."""

    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """For the audit log."""
        return {
            "delivered": self.delivered,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
        }


class WebhookNotifier:
    """Posts approval notices to a Slack or Teams webhook with bounded retries."""

    def __init__(
        self,
        url: str,
        *,
        webhook_format: WebhookFormat = "slack",
        session: requests.Session | None = None,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
            raise ValueError("approval webhook must be an https URL (or loopback in tests)")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._url = url
        self._format: WebhookFormat = webhook_format
        self._session = session
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        self._sleep = sleep

    def _client(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def notify(self, notice: ApprovalNotice) -> DeliveryOutcome:
        """Deliver ``notice``; retries on connection errors, timeouts, 429 and 5xx; never raises."""
        import requests

        body = render(notice, self._format)
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._client().post(self._url, json=body, timeout=self._timeout)
            except requests.RequestException as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"[:300]
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return DeliveryOutcome(delivered=True, attempts=attempt, status=status)
                error = f"webhook answered {status}"
                if status not in _RETRYABLE:
                    break
            if attempt < self._attempts:
                self._sleep(self._backoff * 2 ** (attempt - 1))
        _log.warning("approval %s notification failed: %s", notice.approval_id, error)
        return DeliveryOutcome(delivered=False, attempts=attempt, status=status, error=error)
