"""Sending tool results to Service Bus: trace carriers, message ids, failures, and the fake."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.servicebus.exceptions import ServiceBusAuthenticationError, ServiceBusServerBusyError

from agentcage.constants import RESULTS_SERVICEBUS_QUEUE_ENV
from agentcage.envelopes import ToolError, ToolResult
from agentcage.errors import ConfigurationError, FederationError, TraceContextError, TransportError
from agentcage.federation import (
    AzureServiceBusSender,
    FakeServiceBusSender,
    ServiceBusResultSender,
    ServiceBusSender,
)
from agentcage.trace import TraceContext, extract_servicebus

CTX = TraceContext(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7", tracestate="az=1")


def test_the_fake_is_a_service_bus_sender() -> None:
    assert isinstance(FakeServiceBusSender(), ServiceBusSender)


def test_a_result_carries_the_trace_in_traceparent_and_diagnostic_id() -> None:
    fake = FakeServiceBusSender()
    sender = ServiceBusResultSender(fake, queue="tool-results", environ={})

    sender.send('{"ok":true}', message_id="res-1", trace=CTX, properties={"task_id": "task-1"})

    (message,) = fake.received("tool-results")
    assert message.body == '{"ok":true}'
    assert message.message_id == "res-1"
    assert message.application_properties["traceparent"] == CTX.traceparent
    assert message.application_properties["Diagnostic-Id"] == CTX.traceparent
    assert message.application_properties["task_id"] == "task-1"
    assert extract_servicebus(message.application_properties) == CTX


def test_a_tool_result_envelope_is_sent_with_its_own_id_and_trace() -> None:
    fake = FakeServiceBusSender()
    result = ToolResult(
        message_id="res-7",
        request_id="req-7",
        task_id="task-7",
        step=3,
        tool="deleteVolume",
        status="denied",
        error=ToolError(code="policy_denied", message="production-like tag"),
        traceparent=CTX.traceparent,
        completed_at=datetime(2030, 1, 1, tzinfo=UTC),
    )

    ServiceBusResultSender(fake, environ={RESULTS_SERVICEBUS_QUEUE_ENV: "results"}).send_result(result)

    (message,) = fake.received("results")
    assert message.message_id == "res-7"
    assert json.loads(message.body)["error"]["code"] == "policy_denied"
    assert message.application_properties == {
        "task_id": "task-7",
        "tool": "deleteVolume",
        "status": "denied",
        "traceparent": CTX.traceparent,
        "Diagnostic-Id": CTX.traceparent,
    }


def test_a_failed_send_raises_transport_error_and_a_retry_succeeds() -> None:
    # GIVEN Service Bus failing twice
    fake = FakeServiceBusSender()
    fake.fail_next(2)
    sender = ServiceBusResultSender(fake, queue="q", environ={})

    # WHEN the Lambda's redeliveries send the same result three times
    outcomes = []
    for _ in range(3):
        try:
            sender.send("{}", message_id="res-1", trace=CTX.traceparent)
            outcomes.append("sent")
        except TransportError:
            outcomes.append("failed")

    # THEN the first two fail (the record stays on SQS) and the third is delivered once
    assert outcomes == ["failed", "failed", "sent"]
    assert fake.attempts == 3
    assert [m.message_id for m in fake.messages] == ["res-1"]


def test_an_invalid_traceparent_is_refused_before_sending() -> None:
    fake = FakeServiceBusSender()

    with pytest.raises(TraceContextError):
        ServiceBusResultSender(fake, queue="q", environ={}).send(
            "{}", message_id="m", trace="not-a-traceparent"
        )

    assert fake.attempts == 0


def test_a_queue_is_required() -> None:
    with pytest.raises(ConfigurationError, match=RESULTS_SERVICEBUS_QUEUE_ENV):
        ServiceBusResultSender(FakeServiceBusSender(), environ={})
    with pytest.raises(ValueError, match="negative"):
        FakeServiceBusSender().fail_next(-1)


class SdkDouble:
    """Stands in for azure-servicebus's client: its queue sender raises the given error."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.closed: list[str] = []

    def get_queue_sender(self, queue_name: str) -> Any:
        double = self

        class QueueSender:
            def send_messages(self, message: Any) -> None:
                raise double.error

            def close(self) -> None:
                double.closed.append(queue_name)

        return QueueSender()

    def close(self) -> None:
        self.closed.append("client")


def test_an_identity_failure_inside_the_sdk_is_a_federation_error() -> None:
    # GIVEN the SDK wrapping the AWS token failure in its own authentication error
    try:
        try:
            raise FederationError("STS did not issue a web identity token: AccessDenied")
        except FederationError as inner:
            raise ServiceBusAuthenticationError(message="CBS token failed") from inner
    except ServiceBusAuthenticationError as wrapped:
        error = wrapped
    sender = AzureServiceBusSender("x.servicebus.windows.net", object(), client=SdkDouble(error))  # type: ignore[arg-type]

    with pytest.raises(FederationError, match="AccessDenied"):
        sender.send("q", "{}", {}, "m")


def test_a_busy_server_is_a_transport_error_and_the_link_is_reopened() -> None:
    double = SdkDouble(ServiceBusServerBusyError(message="server busy"))
    sender = AzureServiceBusSender("x.servicebus.windows.net", object(), client=double)  # type: ignore[arg-type]

    with pytest.raises(TransportError, match="server busy") as caught:
        sender.send("q", "{}", {}, "m")

    assert not isinstance(caught.value, FederationError)
    assert double.closed == ["q"]
    sender.close()
    assert double.closed == ["q", "client"]
