"""Stands in for ``azure.servicebus.ServiceBusClient`` at the AMQP wire, inside an artifact worker.

There is no Service Bus (nor an AMQP endpoint setting) here, so only the client class is replaced:
the function code still builds its real sender, credential and ``ServiceBusMessage`` from its
settings. Like the real client, the stand-in gets a token for Service Bus from the credential it was
given before the first send (what the CBS handshake does), so the identity chain runs for real; then
it records each message instead of sending it. Stdlib only; loaded with ``runpy`` by the workers.
"""

from __future__ import annotations

from typing import Any

SERVICEBUS_SCOPE = "https://servicebus.azure.net/.default"
sent: list[dict[str, Any]] = []


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class _QueueSender:
    def __init__(self, client: RecordingServiceBusClient, queue: str) -> None:
        self.client, self.queue = client, queue

    def send_messages(self, message: Any) -> None:
        token = self.client.credential.get_token(SERVICEBUS_SCOPE)
        for one in message if isinstance(message, list) else [message]:
            properties = {_text(k): _text(v) for k, v in (one.application_properties or {}).items()}
            sent.append(
                {
                    "namespace": self.client.namespace,
                    "queue": self.queue,
                    "body": str(one),
                    "application_properties": properties,
                    "message_id": one.message_id,
                    "token_type": type(token).__name__,
                }
            )

    def close(self) -> None:
        pass


class RecordingServiceBusClient:
    """``ServiceBusClient(namespace, credential, **kwargs)`` that records instead of speaking AMQP."""

    def __init__(self, fully_qualified_namespace: str, credential: Any, **kwargs: Any) -> None:
        self.namespace, self.credential, self.options = fully_qualified_namespace, credential, kwargs

    def get_queue_sender(self, queue_name: str, **kwargs: Any) -> _QueueSender:
        return _QueueSender(self, queue_name)

    def close(self) -> None:
        pass


def install() -> None:
    """Replace the client class the senders import lazily (``from azure.servicebus import ...``)."""
    import azure.servicebus

    azure.servicebus.ServiceBusClient = RecordingServiceBusClient  # type: ignore[misc]
