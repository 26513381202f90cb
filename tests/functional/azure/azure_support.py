"""Calling the coordinator's functions directly, as the Functions host would, with fakes for the queues.

:func:`load_app` imports ``functions/azure/function_app.py`` the way the host does (its folder on
``sys.path``, blueprints as top-level modules). :class:`Pump` plays Service Bus: it hands every message
the runtime sent to the function triggered by its queue, and plays the AWS side of ``tool-requests``
with the executor double, returning each result through the ``tool-results`` function.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage  # what the host hands a trigger

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE
from agentcage.envelopes import ToolRequest, dump_envelope, parse_envelope
from agentcage.errors import TransportError
from agentcage.federation import FakeServiceBusSender
from agentcage.topology import queue_spec
from tests.functional.coordinator.coordinator_support import FakeExecutor

__all__ = [
    "APP_DIR",
    "REQUESTER_HEADER",
    "FakeBridge",
    "Pump",
    "call",
    "http",
    "load_app",
    "principal_header",
    "requester_http",
    "sb_message",
]

APP_DIR = Path(__file__).resolve().parents[3] / "functions" / "azure"


def load_app() -> Any:
    """The ``app`` of ``function_app.py``, imported as the Functions host imports it."""
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    return importlib.import_module("function_app").app


def user_functions(registered: list[Any]) -> dict[str, Any]:
    """Every function by name (``app.get_functions()``), unwrapped to the Python function the host calls."""
    return {fn.get_function_name(): fn.get_user_function() for fn in registered}


def principal_header(object_id: str, name: str, roles: tuple[str, ...] = ("approver",)) -> str:
    """App Service Authentication's header for a signed-in person (an approver unless ``roles`` says)."""
    claims = [{"typ": "oid", "val": object_id}, {"typ": "name", "val": name}]
    claims += [{"typ": "roles", "val": role} for role in roles]
    document = {"auth_typ": "aad", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


REQUESTER_HEADER = principal_header("oid-requester", "Sam Servicerep", ("service_rep", "operations"))
"""Who the tests' requests come from unless they say: a service rep who owns the test environments."""


def http(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
    principal: str | None = None,
) -> func.HttpRequest:
    """An HTTP request as the platform forwards it: with ``principal`` as X-MS-CLIENT-PRINCIPAL unless
    ``headers`` carry one (``principal=None``: no header)."""
    sent = dict(headers or {})
    if principal is not None and not any(k.lower() == "x-ms-client-principal" for k in sent):
        sent["X-MS-CLIENT-PRINCIPAL"] = principal
    return func.HttpRequest(
        method=method,
        url=f"https://coord.example/api/{path}",
        headers=sent,
        params={},
        route_params=route_params or {},
        body=body,
    )


def requester_http(method: str, path: str, **kwargs: Any) -> func.HttpRequest:
    """:func:`http` from the tests' requester (:data:`REQUESTER_HEADER`) unless it names its principal."""
    kwargs.setdefault("principal", REQUESTER_HEADER)
    return http(method, path, **kwargs)


def call(fn: Any, req: func.HttpRequest) -> tuple[int, dict[str, Any], func.HttpResponse]:
    response = fn(req)
    return response.status_code, json.loads(response.get_body()), response


def sb_message(
    body: str, *, delivery_count: int = 1, message_id: str = "m-1", properties: dict[str, Any] | None = None
) -> func.ServiceBusMessage:
    return ServiceBusMessage(
        body=body.encode(),
        application_properties=properties or {},
        user_properties=properties or {},
        message_id=message_id,
        delivery_count=delivery_count,
    )


class FakeBridge:
    """Stands in for ``AwsFederatedSqsSender``: keeps what it sent, or fails when told."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, str | None]] = []
        self.failures = 0

    def send(self, task_id: str, body: str, trace: Any, *, message_id: str | None = None) -> str:
        if self.failures:
            self.failures -= 1
            raise TransportError("SQS is unreachable (as told)")
        self.sent.append((task_id, body, str(getattr(trace, "traceparent", trace)), message_id))
        return f"sqs-{len(self.sent)}"


@dataclass
class Pump:
    """Delivers queued messages to the functions until the system is quiet, as Service Bus would:
    a trigger that raises gets the same message again (delivery count + 1) until the queue's max
    deliveries, then the message is dead-lettered (kept in ``dead_letters``)."""

    functions: dict[str, Any]
    sender: FakeServiceBusSender
    bridge: FakeBridge
    executor: FakeExecutor
    delivered: int = 0
    bridged: int = 0
    results: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)

    def deliver(
        self, function: str, queue: str, body: str, message_id: str, properties: dict[str, Any]
    ) -> None:
        for attempt in range(1, queue_spec(queue, "azure").max_deliveries + 1):
            try:
                self.functions[function](
                    sb_message(body, message_id=message_id, delivery_count=attempt, properties=properties)
                )
            except Exception as error:
                self.errors.append(error)
                continue
            return
        self.dead_letters.append(body)

    def run(self, limit: int = 300) -> None:
        triggers = {AGENT_STEPS_QUEUE: "run_agent_step", TOOL_REQUESTS_QUEUE: "bridge_to_aws"}
        for _ in range(limit):
            if self.delivered < len(self.sender.messages):
                message = self.sender.messages[self.delivered]
                self.delivered += 1
                self.deliver(
                    triggers[message.queue],
                    message.queue,
                    message.body,
                    message.message_id,
                    message.application_properties,
                )
            elif self.bridged < len(self.bridge.sent):
                _, body, _, _ = self.bridge.sent[self.bridged]
                self.bridged += 1
                result = self.executor.execute(parse_envelope(ToolRequest, body))
                if result is not None:
                    self.results.append(dump_envelope(result))
                    self.deliver(
                        "record_tool_result", TOOL_RESULTS_QUEUE, self.results[-1], result.message_id, {}
                    )
            else:
                return
        raise AssertionError("the pump did not settle")
