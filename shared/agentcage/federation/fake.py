"""An in-memory :class:`~agentcage.federation.base.ServiceBusSender` for tests and the local runtime."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentcage.errors import TransportError

__all__ = ["FakeServiceBusSender", "SentMessage"]


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message the fake accepted."""

    queue: str
    body: str
    application_properties: dict[str, Any] = field(default_factory=dict)
    message_id: str = ""


class FakeServiceBusSender:
    """Records every message it accepts; ``fail_next(n)`` makes the next ``n`` sends raise TransportError."""

    def __init__(self) -> None:
        self.messages: list[SentMessage] = []
        self.attempts = 0
        self._failures_left = 0
        self._lock = threading.Lock()

    def fail_next(self, times: int = 1) -> None:
        """Make the next ``times`` sends fail, as a Service Bus outage would."""
        if times < 0:
            raise ValueError("times must not be negative")
        with self._lock:
            self._failures_left = times

    def send(self, queue: str, body: str, application_properties: Mapping[str, Any], message_id: str) -> None:
        """Record the message, or raise TransportError while failures are pending."""
        with self._lock:
            self.attempts += 1
            if self._failures_left:
                self._failures_left -= 1
                raise TransportError(f"fake Service Bus refused the message for {queue} (as told to)")
            self.messages.append(SentMessage(queue, body, dict(application_properties), message_id))

    def received(self, queue: str) -> list[SentMessage]:
        """The messages accepted for ``queue``, in order."""
        with self._lock:
            return [message for message in self.messages if message.queue == queue]
