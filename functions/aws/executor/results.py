"""Where tool results go: the SQS results queue, with the trace carriers, and their message ids.

A ToolResult's message id is derived from the request's id and its reservation's
(:func:`result_message_id`), so every answer to one request carries the same id: Service Bus
duplicate detection and the coordinator's record-once both see a redelivered answer as the duplicate
it is. The reservation id is in the derivation because the request id alone is public (``GET
/api/tasks/{id}`` shows it): anyone able to send to the results queue or Service Bus could otherwise
send a message under the id of a pending call's answer first, and duplicate detection would drop the
real answer when it came.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any, Protocol

from agentcage.constants import TOOL_RESULTS_QUEUE_URL_ENV
from agentcage.envelopes import ToolResult, dump_envelope
from agentcage.errors import ConfigurationError, TransportError
from agentcage.trace import sqs_message_attributes, sqs_system_attributes

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["ResultPublisher", "SqsResultPublisher", "result_message_id"]


def result_message_id(request_id: str, reservation_id: str) -> str:
    """The message id of the result of request ``request_id`` carrying reservation ``reservation_id``
    (stable across redeliveries, and not derivable from the request id alone)."""
    key = f"{request_id}\n{reservation_id}".encode()
    return "result-" + hashlib.sha256(key).hexdigest()[:32]


class ResultPublisher(Protocol):
    """Sends a ToolResult on its way back to the coordinator."""

    def publish(self, result: ToolResult) -> None:
        """Send ``result``; raises :class:`TransportError` when it was not accepted."""
        ...


class SqsResultPublisher:
    """Sends results to the SQS results queue (``queue_url``: argument, then the
    ``AGENTCAGE_TOOL_RESULTS_QUEUE_URL`` variable).

    The W3C ``traceparent`` goes in a message attribute and the same trace as the X-Ray
    ``AWSTraceHeader`` system attribute, so the bridge Lambda and X-Ray both continue it.
    """

    def __init__(self, queue_url: str | None = None, *, client: SQSClient | None = None) -> None:
        url = queue_url or os.environ.get(TOOL_RESULTS_QUEUE_URL_ENV)
        if not url:
            raise ConfigurationError(f"no results queue: pass queue_url or set {TOOL_RESULTS_QUEUE_URL_ENV}")
        self.queue_url = url
        self._client = client

    @property
    def client(self) -> SQSClient:
        """The SQS client (built from boto3's default chain on first use when none was injected)."""
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def publish(self, result: ToolResult) -> None:
        """Send ``result`` (size-checked) with its trace carriers."""
        from botocore.exceptions import BotoCoreError, ClientError

        body = dump_envelope(result)
        trace = result.trace
        arguments: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MessageBody": body,
            "MessageAttributes": sqs_message_attributes(trace),
            "MessageSystemAttributes": sqs_system_attributes(trace),
        }
        try:
            self.client.send_message(**arguments)
        except (BotoCoreError, ClientError) as error:
            raise TransportError(f"could not send the result of {result.request_id}: {error}") from error
