"""Service Bus message ids cannot be pre-empted: none is shown by ``GET /api/tasks/{id}`` or derivable
from what it shows, so a message sent first under a guessed id cannot make duplicate detection drop the
coordinator's own request or step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE
from agentcage.federation import FakeServiceBusSender
from tests.functional.azure.azure_support import call
from tests.functional.azure.azure_support import requester_http as http  # from the tests' requester
from tests.functional.azure.conftest import Harness
from tests.functional.azure.test_azure_dead_ends import RITA, waiting_for_approval
from tests.functional.azure.test_azure_return_exception import REQUEST, decide, get_task


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _shown_and_derivable(view: dict[str, Any]) -> set[str]:
    """What the task view shows, and the ids the coordinator used to derive from it."""
    shown = set(_strings(view))
    derived = {f"{view['task_id']}.step{n}" for n in range(1, 20)}
    return shown | derived


class DuplicateDetectingSender(FakeServiceBusSender):
    """Drops a message whose id its queue has seen, as Service Bus duplicate detection does."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, str]] = set()
        self.dropped: list[str] = []

    def send(self, queue: str, body: str, application_properties: Any, message_id: str) -> None:
        if (queue, message_id) in self.seen:
            self.dropped.append(message_id)
            return
        self.seen.add((queue, message_id))
        super().send(queue, body, application_properties, message_id)


def test_no_outgoing_message_id_is_shown_or_derivable_from_the_task_view(harness: Harness) -> None:
    # GIVEN a return exception run to its end (steps, reads, an approved refund)
    task_id, approval_id = waiting_for_approval(harness)
    pending_view = get_task(harness, task_id)
    assert decide(harness, approval_id, "approve", RITA)[0] == 200
    harness.pump.run()
    final_view = get_task(harness, task_id)
    assert final_view["state"] == "completed"

    # THEN no message id the coordinator sent is in either view or derivable from it
    sent = {m.message_id for m in harness.sender.messages}
    assert sent
    assert not sent & (_shown_and_derivable(pending_view) | _shown_and_derivable(final_view))


def test_a_message_sent_first_under_a_shown_id_does_not_stop_the_real_request(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Service Bus with duplicate detection, and a refund waiting for a person
    sender = DuplicateDetectingSender()
    monkeypatch.setattr(harness.runtime, "sender", sender)
    monkeypatch.setattr(harness.pump, "sender", sender)
    body = json.dumps({"request": REQUEST}).encode()
    task_id = call(
        harness.functions["create_task"],
        http("POST", "tasks", body=body, headers={"Content-Type": "application/json"}),
    )[1]["task_id"]
    harness.pump.run()
    view = get_task(harness, task_id)
    [pending] = view["pending_approvals"]

    # WHEN an attacker sends junk first under every id the view shows or lets one derive
    for guess in _shown_and_derivable(view):
        for queue in (TOOL_REQUESTS_QUEUE, AGENT_STEPS_QUEUE):
            sender.seen.add((queue, guess))

    # AND the person approves
    assert decide(harness, str(pending["approval_id"]), "approve", RITA)[0] == 200
    harness.pump.run()

    # THEN neither the approved request nor any later step was dropped: the refund ran, the task ended
    assert sender.dropped == []
    assert [c.tool for c in harness.executor.executed].count("createRefund") == 1
    assert get_task(harness, task_id)["state"] == "completed"
