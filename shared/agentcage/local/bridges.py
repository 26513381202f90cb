"""The cross-cloud hops, in-process: what the functions use instead of SQS, STS and Service Bus.

Nothing here short-circuits the functions' own code: the coordinator's real
:class:`~agentcage.federation.AwsFederatedSqsSender` runs against :func:`local_aws_client_factory`
(an STS that names the session after the task, as the real one does, and an SQS that enqueues into
the broker with that session in ``SenderId``), and the bridge Lambda's
:class:`~agentcage.federation.ServiceBusResultSender` runs over :class:`BrokerServiceBusSender`.
The credentials and tokens here are fixed placeholders that nothing checks; no secret is involved.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken
from botocore.exceptions import ClientError

from agentcage.errors import TransportError
from agentcage.local.broker import DurableBroker, QueueKey
from agentcage.local.invoke import LOCAL_ACCOUNT, LOCAL_BRIDGE_ROLE_ID

__all__ = [
    "BrokerServiceBusSender",
    "LocalEntraCredential",
    "LocalSqsClient",
    "LocalStsClient",
    "local_aws_client_factory",
]

_ROLE_ID = LOCAL_BRIDGE_ROLE_ID
_PLACEHOLDER = "local-placeholder-not-a-credential"


class LocalEntraCredential:
    """A ``TokenCredential`` standing in for the managed identity; its token is a fixed placeholder."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # noqa: ARG002 - the protocol's shape
        """A token valid for an hour (nothing verifies it locally)."""
        return AccessToken(_PLACEHOLDER, int(time.time()) + 3600)


class LocalSqsClient:
    """The subset of a boto3 SQS client the functions call, enqueueing into the local broker.

    ``sender_id`` is what SQS reports as ``SenderId``: ``<role id>:<session name>`` for a role session.
    """

    def __init__(self, broker: DurableBroker, *, sender_id: str) -> None:
        self.broker = broker
        self.sender_id = sender_id

    def _queue(self, queue_url: str) -> QueueKey:
        name = urlsplit(queue_url).path.rstrip("/").rpartition("/")[2]
        key = QueueKey("aws", name)
        if key not in self.broker.max_deliveries:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AWS.SimpleQueueService.NonExistentQueue",
                        "Message": f"no queue {queue_url}",
                    }
                },
                "SendMessage",
            )
        return key

    def send_message(
        self,
        *,
        QueueUrl: str,  # noqa: N803 - boto3's parameter names
        MessageBody: str,  # noqa: N803
        MessageAttributes: Mapping[str, Any] | None = None,  # noqa: N803
        MessageSystemAttributes: Mapping[str, Any] | None = None,  # noqa: N803
        **_: Any,
    ) -> dict[str, str]:
        """Enqueue one message; SQS assigns the message id (a duplicate send is a new message)."""
        attributes: dict[str, str] = {"SenderId": self.sender_id}
        for name, value in (MessageSystemAttributes or {}).items():
            attributes[name] = str(value.get("StringValue", ""))
        message_attributes = {
            name: str(value.get("StringValue", "")) for name, value in (MessageAttributes or {}).items()
        }
        message_id = str(uuid.uuid4())
        self.broker.send(
            self._queue(QueueUrl),
            MessageBody,
            properties={"attributes": attributes, "message_attributes": message_attributes},
            message_id=message_id,
        )
        return {
            "MessageId": message_id,
            "MD5OfMessageBody": hashlib.md5(MessageBody.encode(), usedforsecurity=False).hexdigest(),
        }


class LocalStsClient:
    """``AssumeRoleWithWebIdentity`` as STS answers it: temporary credentials for the named session."""

    ROLE_ID = _ROLE_ID
    """The unique id of the role its sessions belong to (what a ``SenderId`` starts with)."""

    def __init__(self, sessions: dict[str, str], lock: threading.Lock) -> None:
        self._sessions = sessions
        self._lock = lock

    def assume_role_with_web_identity(
        self,
        *,
        RoleArn: str,  # noqa: N803 - boto3's parameter names
        RoleSessionName: str,  # noqa: N803
        WebIdentityToken: str,  # noqa: N803
        DurationSeconds: int = 3600,  # noqa: N803
        **_: Any,
    ) -> dict[str, Any]:
        """Issue placeholder credentials whose access key id remembers the session name."""
        if not WebIdentityToken:
            raise ClientError(
                {"Error": {"Code": "InvalidIdentityToken", "Message": "no token"}},
                "AssumeRoleWithWebIdentity",
            )
        access_key = "ASIALOCAL" + uuid.uuid4().hex[:11].upper()
        with self._lock:
            self._sessions[access_key] = RoleSessionName
        return {
            "Credentials": {
                "AccessKeyId": access_key,
                "SecretAccessKey": _PLACEHOLDER,
                "SessionToken": _PLACEHOLDER,
                "Expiration": datetime.now(UTC) + timedelta(seconds=DurationSeconds),
            },
            "AssumedRoleUser": {
                "AssumedRoleId": f"{_ROLE_ID}:{RoleSessionName}",
                "Arn": f"{RoleArn.replace(':role/', ':assumed-role/')}/{RoleSessionName}",
            },
        }


def local_aws_client_factory(broker: DurableBroker, *, default_sender: str = "local") -> Any:
    """A ``ClientFactory`` (``factory(service, **kwargs)``) for STS and SQS backed by the broker."""
    sessions: dict[str, str] = {}
    lock = threading.Lock()

    def factory(service_name: str, **kwargs: Any) -> Any:
        if service_name == "sts":
            return LocalStsClient(sessions, lock)
        if service_name == "sqs":
            with lock:
                session = sessions.get(str(kwargs.get("aws_access_key_id", "")), default_sender)
            return LocalSqsClient(broker, sender_id=f"{_ROLE_ID}:{session}")
        raise ValueError(f"the local runtime provides no {service_name} client")

    return factory


class BrokerServiceBusSender:
    """A :class:`~agentcage.federation.ServiceBusSender` that enqueues into the local Service Bus queue."""

    def __init__(self, broker: DurableBroker) -> None:
        self.broker = broker

    def send(self, queue: str, body: str, application_properties: Mapping[str, Any], message_id: str) -> None:
        """Enqueue ``body``; an unknown queue is refused as Service Bus would refuse it."""
        key = QueueKey("azure", queue)
        if key not in self.broker.max_deliveries:
            raise TransportError(f"Service Bus has no queue {queue!r}")
        self.broker.send(key, body, properties=dict(application_properties), message_id=message_id)


def lambda_sender_id(function_name: str) -> str:
    """The ``SenderId`` of a message a Lambda's execution role sends (role id : function name)."""
    return f"AROA{LOCAL_ACCOUNT}LAMBDA:{function_name}"
