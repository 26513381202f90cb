"""Invoking functions as their platforms do: SB messages, output bindings, SQS events, partial batches."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from agentcage.errors import ConfigurationError
from agentcage.local.broker import Delivery, DurableBroker, QueueKey, StoredMessage
from agentcage.local.discovery import AzureFunction, HttpRoute, LambdaFunction, SystemWiring, check_wiring
from agentcage.local.invoke import call_azure_function, failed_items, servicebus_message, sqs_event
from agentcage.local.workers import ConsumerPool


def delivery(message_id: str = "m1", attempts: int = 1, body: str = "{}", **properties: Any) -> Delivery:
    return Delivery(
        seq=7,
        queue=QueueKey("aws", "tool-requests"),
        message_id=message_id,
        body=body,
        properties=properties,
        enqueued_at=1_700_000_000.0,
        attempts=attempts,
        lock_token="lock",
        locked_until=1_700_000_060.0,
        first_received_at=1_700_000_001.0,
    )


def azure_function(fn: Any, trigger_arg: str, queue: str | None = None, **outputs: str) -> AzureFunction:
    import inspect

    return AzureFunction(
        name=fn.__name__,
        user_function=fn,
        trigger_type="serviceBusTrigger",
        trigger_arg=trigger_arg,
        queue=queue,
        outputs=outputs,
        parameters=tuple(inspect.signature(fn).parameters),
    )


def test_the_servicebus_message_carries_the_delivery_count_and_properties() -> None:
    message = servicebus_message(delivery(attempts=3, body='{"a": 1}', traceparent="tp"))
    assert message.delivery_count == 3
    assert message.message_id == "m1"
    assert message.application_properties == {"traceparent": "tp"}
    assert json.loads(message.get_body()) == {"a": 1}


def test_output_bindings_are_collected_after_the_function_returns() -> None:
    def step(msg: func.ServiceBusMessage, out: func.Out[str]) -> None:
        out.set(json.dumps({"next": msg.get_body().decode()}))

    _, messages = call_azure_function(
        azure_function(step, "msg", "agent-steps", out="tool-requests"), servicebus_message(delivery())
    )
    assert [(m.queue, json.loads(m.body)) for m in messages] == [("tool-requests", {"next": "{}"})]


def test_a_list_set_on_an_output_is_one_message_per_item() -> None:
    def step(msg: func.ServiceBusMessage, out: func.Out[list[str]]) -> None:
        out.set(["a", "b"])

    _, messages = call_azure_function(azure_function(step, "msg", out="q"), servicebus_message(delivery()))
    assert [m.body for m in messages] == ["a", "b"]


def test_the_sqs_event_has_the_documented_shape_and_receive_count() -> None:
    record = sqs_event(
        [
            delivery(
                attempts=2,
                attributes={"AWSTraceHeader": "Root=1-abc", "SenderId": "AROA:task-1"},
                message_attributes={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
            )
        ]
    )["Records"][0]
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["attributes"]["SenderId"] == "AROA:task-1"
    assert record["attributes"]["AWSTraceHeader"] == "Root=1-abc"
    assert record["messageAttributes"]["traceparent"]["dataType"] == "String"
    assert record["eventSource"] == "aws:sqs"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),  # unknown id fails the batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": "oops"}, {"a", "b"}),
    ],
)
def test_partial_batch_responses_are_read_as_the_event_source_mapping_reads_them(
    response: Any, expected: set[str]
) -> None:
    assert failed_items(response, [delivery("a"), delivery("b")]) == expected


def test_routes_match_parameters_and_the_prefix() -> None:
    route = HttpRoute.of("api", "tasks/{task_id}", ("GET",))
    assert route.match("/api/tasks/t-1") == {"task_id": "t-1"}
    assert route.match("/api/tasks/t-1/extra") is None
    assert HttpRoute.of("api", "approvals/{approval_id:regex(^a)}", ("POST",)).match("/api/approvals/a1") == {
        "approval_id": "a1"
    }


def test_an_output_nobody_consumes_is_a_startup_error() -> None:
    def http(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
        return func.HttpResponse("")

    function = AzureFunction(
        name="start",
        user_function=http,
        trigger_type="httpTrigger",
        trigger_arg="req",
        route=HttpRoute.of("api", "tasks", ("POST",)),
        outputs={"out": "agent-stepz"},
        parameters=("req", "out"),
    )
    with pytest.raises(ConfigurationError, match="agent-stepz"):
        check_wiring(SystemWiring(azure=(function,), lambdas=()))


def test_workers_redeliver_failures_honour_partial_batches_and_dead_letter(tmp_path: Path) -> None:
    # GIVEN a Lambda that fails "bad" every time and "flaky" on its first delivery
    requests = QueueKey("aws", "tool-requests")
    dead: list[StoredMessage] = []
    broker = DurableBroker(
        tmp_path / "q.db",
        max_deliveries={requests: 3},
        lock_seconds={requests: 0.2},  # a failed SQS message waits out its visibility timeout
        retry_delay_s=0.01,
        on_dead_letter=dead.append,
    )
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            with lock:
                seen.append((record["body"], record["attributes"]["ApproximateReceiveCount"]))
            if record["body"] == "bad" or (
                record["body"] == "flaky" and record["attributes"]["ApproximateReceiveCount"] == "1"
            ):
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    executor = LambdaFunction("executor", handler, "tests.executor", "sqs", "tool-requests", 5, 30, ())
    for body in ("good", "flaky", "bad"):
        broker.send(requests, body)
    pool = ConsumerPool(broker, {requests: executor}, threads_per_queue=1, poll_interval_s=0.01)
    # WHEN the consumers run until nothing is outstanding
    pool.start()
    deadline = time.monotonic() + 30
    while broker.outstanding() and time.monotonic() < deadline:
        time.sleep(0.01)
    pool.stop()
    # THEN "good" ran once, "flaky" twice, "bad" three times and was dead-lettered
    assert sorted(seen).count(("good", "1")) == 1
    assert [count for body, count in seen if body == "flaky"] == ["1", "2"]
    assert [count for body, count in seen if body == "bad"] == ["1", "2", "3"]
    assert [m.body for m in dead] == ["bad"]
    assert {m.body for m in broker.messages(requests, state="completed")} == {"good", "flaky"}
