"""The real :class:`~agentcage.federation.base.ServiceBusSender`: azure-servicebus with an Entra credential.

Service Bus has local (SAS) authentication disabled, so the client only ever gets a token credential
(``ServiceBusClient(fully_qualified_namespace, credential)``); in the bridge Lambda that credential is a
``ClientAssertionCredential`` fed by an AWS-issued web identity token (:mod:`.to_azure`). The client and
one sender per queue are opened on first use and reused across a Lambda's invocations.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentcage.errors import ConfigurationError, FederationError, TransportError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = ["AzureServiceBusSender"]

_log = logging.getLogger(__name__)


def _federation_cause(error: BaseException) -> FederationError | None:
    """The FederationError somewhere in the exception chain (the SDK wraps credential failures)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, FederationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class AzureServiceBusSender:
    """Sends to Service Bus queues of one namespace with a token credential (never a key or SAS)."""

    def __init__(
        self,
        fully_qualified_namespace: str,
        credential: TokenCredential,
        *,
        retry_total: int = 2,
        client: Any | None = None,
    ) -> None:
        if not fully_qualified_namespace or "://" in fully_qualified_namespace:
            raise ConfigurationError(
                "expected a namespace host such as <name>.servicebus.windows.net, "
                f"not {fully_qualified_namespace!r}"
            )
        self.namespace = fully_qualified_namespace
        self._credential = credential
        self._retry_total = retry_total
        self._client = client
        self._senders: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _sender(self, queue: str) -> Any:
        with self._lock:
            if self._client is None:
                from azure.servicebus import ServiceBusClient

                # A few SDK retries for transient AMQP errors; the SQS redrive is the outer retry.
                self._client = ServiceBusClient(
                    self.namespace, self._credential, retry_total=self._retry_total
                )
            if queue not in self._senders:
                self._senders[queue] = self._client.get_queue_sender(queue_name=queue)
            return self._senders[queue]

    def send(self, queue: str, body: str, application_properties: Mapping[str, Any], message_id: str) -> None:
        """Send one message; raises FederationError (identity) or TransportError (anything else)."""
        from azure.core.exceptions import AzureError, ClientAuthenticationError
        from azure.servicebus import ServiceBusMessage
        from azure.servicebus.exceptions import ServiceBusAuthenticationError, ServiceBusAuthorizationError

        message = ServiceBusMessage(
            body,
            application_properties=dict(application_properties),  # type: ignore[arg-type]
            message_id=message_id,
            content_type="application/json",
        )
        try:
            self._sender(queue).send_messages(message)
        except (
            ClientAuthenticationError,
            ServiceBusAuthenticationError,
            ServiceBusAuthorizationError,
        ) as error:
            cause = _federation_cause(error)
            raise FederationError(
                f"Service Bus {self.namespace} did not accept the bridge identity: {cause or error}"
            ) from error
        except (AzureError, OSError, ValueError) as error:
            cause = _federation_cause(error)
            if cause is not None:
                raise FederationError(cause.message) from error
            self._drop(queue)  # a broken link is reopened on the next send
            raise TransportError(f"could not send to Service Bus queue {queue}: {error}") from error
        except FederationError:
            raise

    def _drop(self, queue: str) -> None:
        with self._lock:
            sender = self._senders.pop(queue, None)
        if sender is not None:
            try:
                sender.close()
            except Exception as error:  # noqa: BLE001 - closing a broken link must not hide the send error
                _log.debug("closing the Service Bus sender for %s failed: %s", queue, error)

    def close(self) -> None:
        """Close every sender and the client."""
        for queue in list(self._senders):
            self._drop(queue)
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
