"""The Service Bus sending interface the AWS -> Azure bridge uses, so tests and the local runtime swap it.

Implementations: :class:`~agentcage.federation.servicebus.AzureServiceBusSender` (azure-servicebus, an
Entra credential) and :class:`~agentcage.federation.fake.FakeServiceBusSender` (records messages).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["ServiceBusSender"]


@runtime_checkable
class ServiceBusSender(Protocol):
    """Sends one message to a Service Bus queue."""

    def send(self, queue: str, body: str, application_properties: Mapping[str, Any], message_id: str) -> None:
        """Send ``body`` with its application properties and ``message_id`` (duplicate detection).

        Raises TransportError (FederationError when the identity exchange failed) if the message was not
        accepted; returning means Service Bus has it.
        """
        ...
