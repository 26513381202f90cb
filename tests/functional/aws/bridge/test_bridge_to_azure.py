"""The bridge forwards each ToolResult to Service Bus with its trace; a failed send stays on SQS."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from agentcage.constants import (
    AZURE_CLIENT_ID_ENV,
    AZURE_TENANT_ID_ENV,
    RESULTS_SERVICEBUS_QUEUE_ENV,
    SERVICEBUS_NAMESPACE_ENV,
)
from agentcage.envelopes import ToolResult, parse_envelope
from agentcage.federation import FakeServiceBusSender, ServiceBusResultSender
from functions.aws import bridge_to_azure

EVENTS_DIR = Path(__file__).resolve().parents[3] / "events"
QUEUE = "tool-results"


def _event() -> dict[str, Any]:
    return copy.deepcopy(json.loads((EVENTS_DIR / "sqs_tool_results.json").read_text(encoding="utf-8")))


@pytest.fixture
def fake() -> FakeServiceBusSender:
    return FakeServiceBusSender()


@pytest.fixture
def sender(fake: FakeServiceBusSender) -> ServiceBusResultSender:
    return ServiceBusResultSender(fake, queue=QUEUE)


def test_each_result_is_sent_to_service_bus_with_its_trace_and_message_id(
    fake: FakeServiceBusSender, sender: ServiceBusResultSender
) -> None:
    # GIVEN two results from the executor (an ok and a denied one)
    event = _event()

    # WHEN the bridge handles the batch
    response = bridge_to_azure.process_batch(event, sender=sender)

    # THEN both are on the Service Bus queue, in order, unchanged, with the trace carriers
    assert response == {"batchItemFailures": []}
    sent = fake.received(QUEUE)
    assert len(sent) == 2
    for record, message in zip(event["Records"], sent, strict=True):
        original = parse_envelope(ToolResult, record["body"])
        assert parse_envelope(ToolResult, message.body) == original
        assert message.message_id == original.message_id
        assert message.application_properties["traceparent"] == original.traceparent
        assert message.application_properties["Diagnostic-Id"] == original.traceparent
        assert message.application_properties["task_id"] == original.task_id


def test_a_failed_send_leaves_that_record_for_a_retry_and_the_rest_go_through(
    fake: FakeServiceBusSender, sender: ServiceBusResultSender
) -> None:
    # GIVEN Service Bus refuses the first send (an outage, an identity problem)
    fake.fail_next(1)
    event = _event()

    response = bridge_to_azure.process_batch(event, sender=sender)

    # THEN the first record is a batch item failure (SQS redelivers it, then dead-letters it) ...
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert [json.loads(m.body)["status"] for m in fake.received(QUEUE)] == ["denied"]

    # ... and when SQS redelivers it, it is delivered: the result is never lost
    retry = {"Records": [event["Records"][0]]}
    assert bridge_to_azure.process_batch(retry, sender=sender) == {"batchItemFailures": []}
    assert sorted(json.loads(m.body)["status"] for m in fake.received(QUEUE)) == ["denied", "ok"]


@pytest.mark.parametrize("body", [None, "", "not json", "{}", json.dumps({"status": "ok"})])
def test_a_record_that_is_not_a_tool_result_is_a_batch_item_failure(
    fake: FakeServiceBusSender, sender: ServiceBusResultSender, body: object
) -> None:
    event = _event()
    event["Records"][0]["body"] = body
    response = bridge_to_azure.process_batch(event, sender=sender)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(fake.received(QUEUE)) == 1


def test_a_bridge_without_its_configuration_fails_every_record_instead_of_losing_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the Lambda's settings are missing: the default sender cannot be built
    for name in (
        SERVICEBUS_NAMESPACE_ENV,
        AZURE_TENANT_ID_ENV,
        AZURE_CLIENT_ID_ENV,
        RESULTS_SERVICEBUS_QUEUE_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    bridge_to_azure.result_sender.cache_clear()
    event = _event()

    response = bridge_to_azure.process_batch(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
    bridge_to_azure.result_sender.cache_clear()


def test_the_default_sender_is_built_once_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []

    def fake_config() -> ServiceBusResultSender:
        sender = ServiceBusResultSender(FakeServiceBusSender(), queue=QUEUE)
        built.append(sender)
        return sender

    monkeypatch.setattr("agentcage.federation.result_sender_from_config", fake_config)
    bridge_to_azure.result_sender.cache_clear()
    try:
        bridge_to_azure.process_batch(_event())
        bridge_to_azure.process_batch(_event())
        assert len(built) == 1
        assert len(built[0].sender.received(QUEUE)) == 4  # type: ignore[attr-defined]
    finally:
        bridge_to_azure.result_sender.cache_clear()
