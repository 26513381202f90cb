"""Call a function as its platform would: Service Bus and HTTP triggers for Azure, SQS events for Lambda.

Azure: the trigger argument is the SDK's own ``ServiceBusMessage`` (with ``delivery_count``,
``message_id``, ``application_properties``) or ``HttpRequest``; every output binding gets an
:class:`OutBinding` and what was set is returned, to be sent only if the function succeeded (as the
Functions host does). Lambda: the SQS event in the documented shape, with
``attributes.ApproximateReceiveCount`` and the trace carriers, and the partial-batch response read
back as the event source mapping reads it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage

from agentcage.local.broker import Delivery
from agentcage.local.discovery import AzureFunction, LambdaFunction

__all__ = [
    "LocalContext",
    "LocalLambdaContext",
    "OutBinding",
    "OutgoingMessage",
    "call_azure_function",
    "call_sqs_lambda",
    "failed_items",
    "servicebus_message",
    "sqs_event",
]

T = TypeVar("T")

LOCAL_ACCOUNT = "000000000000"
LOCAL_BRIDGE_ROLE_ID = "AROALOCALBRIDGEROLE01"  # the bridge role's unique id a SenderId names (AROA...)
LOCAL_REGION = "us-east-1"


class OutBinding(func.Out[T], Generic[T]):
    """The ``func.Out`` the Functions host passes for an output binding."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        """Set the value to send when the function returns."""
        self._value = val

    def get(self) -> T:
        """The value set (None when nothing was)."""
        return self._value  # type: ignore[return-value]


class LocalContext(func.Context):
    """The invocation context (``context`` parameter) of a locally run Azure function."""

    def __init__(self, function_name: str, traceparent: str | None = None) -> None:
        self._function_name = function_name
        self._invocation_id = str(uuid.uuid4())
        self._traceparent = traceparent

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return ""

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None

    @property
    def thread_local_storage(self) -> Any:
        return None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message an output binding produced: its Service Bus queue and body."""

    queue: str
    body: str
    properties: dict[str, Any] = field(default_factory=dict)


def servicebus_message(delivery: Delivery) -> ServiceBusMessage:
    """The trigger argument for ``delivery``, as the Functions host builds it."""
    enqueued = datetime.fromtimestamp(delivery.enqueued_at, UTC)
    return ServiceBusMessage(
        body=delivery.body.encode("utf-8"),
        message_id=delivery.message_id,
        application_properties=dict(delivery.properties),
        user_properties=dict(delivery.properties),
        content_type="application/json",
        delivery_count=delivery.attempts,
        enqueued_time_utc=enqueued,
        enqueued_sequence_number=delivery.seq,
        sequence_number=delivery.seq,
        lock_token=delivery.lock_token,
        locked_until=datetime.fromtimestamp(delivery.locked_until, UTC),
        to=delivery.queue.name,
    )


def _messages_from(queue: str, value: Any) -> list[OutgoingMessage]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [message for item in value for message in _messages_from(queue, item)]
    if isinstance(value, bytes):
        return [OutgoingMessage(queue, value.decode("utf-8"))]
    if isinstance(value, str):
        return [OutgoingMessage(queue, value)]
    if isinstance(value, func.ServiceBusMessage):
        properties = dict(getattr(value, "application_properties", None) or {})
        return [OutgoingMessage(queue, value.get_body().decode("utf-8"), properties)]
    # The worker serialises other values (dicts) as JSON.
    return [OutgoingMessage(queue, json.dumps(value, default=str))]


def call_azure_function(
    function: AzureFunction, trigger_value: Any, *, traceparent: str | None = None
) -> tuple[Any, list[OutgoingMessage]]:
    """Run ``function`` with its trigger value; returns its result and the messages its outputs hold."""
    outputs: dict[str, OutBinding[Any]] = {
        name: OutBinding() for name in function.outputs if name != "$return"
    }
    arguments: dict[str, Any] = {function.trigger_arg: trigger_value, **outputs}
    if "context" in function.parameters and "context" not in arguments:
        arguments["context"] = LocalContext(function.name, traceparent)
    result = function.user_function(**arguments)
    messages: list[OutgoingMessage] = []
    for name, queue in function.outputs.items():
        value = result if name == "$return" else outputs[name].get()
        messages.extend(_messages_from(queue, value))
    return result, messages


@dataclass
class LocalLambdaContext:
    """The Lambda context object (what Powertools reads) for a locally run handler."""

    function_name: str
    timeout_ms: int
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    def __post_init__(self) -> None:
        self.invoked_function_arn = (
            f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"
        self._started = datetime.now(UTC)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        elapsed = (datetime.now(UTC) - self._started).total_seconds() * 1000
        return max(0, int(self.timeout_ms - elapsed))


def _sqs_attribute(value: str) -> dict[str, Any]:
    return {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"}


def sqs_event(deliveries: Sequence[Delivery]) -> dict[str, Any]:
    """The SQS event Lambda receives for a batch (``properties`` carry attributes and message attributes).

    A message's stored properties are ``{"attributes": {...}, "message_attributes": {name: value}}``:
    system attributes such as ``AWSTraceHeader`` and ``SenderId``, and string message attributes.
    """
    records = []
    for delivery in deliveries:
        stored_attributes: Mapping[str, Any] = delivery.properties.get("attributes") or {}
        message_attributes: Mapping[str, Any] = delivery.properties.get("message_attributes") or {}
        attributes = {
            "ApproximateReceiveCount": str(delivery.attempts),
            "SentTimestamp": str(int(delivery.enqueued_at * 1000)),
            "SenderId": str(stored_attributes.get("SenderId", f"AROA{LOCAL_ACCOUNT}LOCAL:local")),
            "ApproximateFirstReceiveTimestamp": str(int(delivery.first_received_at * 1000)),
            **{k: str(v) for k, v in stored_attributes.items() if k != "SenderId"},
        }
        records.append(
            {
                "messageId": delivery.message_id,
                "receiptHandle": delivery.lock_token,
                "body": delivery.body,
                "attributes": attributes,
                "messageAttributes": {name: _sqs_attribute(str(v)) for name, v in message_attributes.items()},
                "md5OfBody": hashlib.md5(delivery.body.encode("utf-8"), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{delivery.queue.name}",
                "awsRegion": LOCAL_REGION,
            }
        )
    return {"Records": records}


def failed_items(response: Any, deliveries: Sequence[Delivery]) -> set[str]:
    """The message ids to retry after a batch, read as the event source mapping reads the response.

    ``{"batchItemFailures": [{"itemIdentifier": id}, ...]}`` fails those items; an identifier that is
    empty or names no message of the batch fails the whole batch; anything else is success.
    """
    batch = {delivery.message_id for delivery in deliveries}
    if not isinstance(response, Mapping) or "batchItemFailures" not in response:
        return set()
    failures = response.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return batch
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or identifier not in batch:
            return batch
        failed.add(str(identifier))
    return failed


def call_sqs_lambda(function: LambdaFunction, deliveries: Sequence[Delivery]) -> set[str]:
    """Invoke ``function`` with the batch; returns the failed message ids (all of them if it raised)."""
    context = LocalLambdaContext(function_name=function.name, timeout_ms=function.timeout_seconds * 1000)
    response = function.handler(sqs_event(deliveries), context)
    return failed_items(response, deliveries)
