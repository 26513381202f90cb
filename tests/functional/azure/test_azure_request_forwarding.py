"""The bridge to AWS forwards only what the coordinator dispatched (on SQLite and DynamoDB).

It sends to SQS as the coordinator, so a request anyone with send rights on the Service Bus queue put
there must not reach the executor as the coordinator's. The ledger vouches first: the task exists, the
call was dispatched under the request's message id, and it was sent as exactly this request, its
reservation included. An unvouched request is never sent, on any delivery: each logs it with its
trace id and raises (Service Bus dead-letters it after its max deliveries), the last one counts it
(``UnvouchedMessages``, reason ``tool-requests``) and ends no task.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.envelopes import ToolRequest, args_digest, dump_envelope, parse_envelope
from agentcage.errors import NotFoundError
from agentcage.monitoring_names import METRIC_UNVOUCHED_MESSAGES
from agentcage.topology import queue_spec
from agentcage.trace import TraceContext
from tests.functional.azure.azure_support import sb_message
from tests.functional.azure.conftest import Harness
from tests.functional.azure.test_azure_dead_ends import waiting_for_approval
from tests.functional.azure.test_azure_return_exception import get_task

LAST = queue_spec(TOOL_REQUESTS_QUEUE, "azure").max_deliveries


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The Function App's counters (``adapters._count``), as (name, reason) pairs."""
    adapters = sys.modules["adapters"]  # functions/azure/adapters.py, top-level as the host imports it
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(adapters, "_count", lambda name, queue: seen.append((name, queue)))
    return seen


def dispatched(harness: Harness) -> ToolRequest:
    """The first request the coordinator dispatched (and the bridge forwarded)."""
    _, body, _, _ = harness.bridge.sent[0]
    return parse_envelope(ToolRequest, body)


def forged(request: ToolRequest, **changes: Any) -> ToolRequest:
    copy = request.model_copy(update=changes)
    return copy.model_copy(update={"args_digest": args_digest(copy.args)})


FORGERIES: dict[str, dict[str, Any]] = {
    "a call nobody dispatched": {"message_id": "req-forged"},
    "a dispatched call's id with another reservation": {"reservation_id": "res-forged"},
    "a dispatched call's id and reservation with other arguments": {"args": {"customer_id": "C-6666"}},
    "a dispatched call's id at another step": {"step": 7},
    "a task that does not exist": {"task_id": "t-unknown"},
    "another trace": {"traceparent": TraceContext.new().traceparent},
}


@pytest.mark.parametrize("changes", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_request_the_coordinator_did_not_dispatch_is_never_forwarded(
    harness: Harness,
    changes: dict[str, Any],
    counted: list[tuple[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a task waiting for a person, and a request for it that no dispatched call was sent as
    task_id, _ = waiting_for_approval(harness)
    request = forged(dispatched(harness), **changes)
    bridged = len(harness.bridge.sent)

    # WHEN Service Bus delivers it until it dead-letters
    for delivery in range(1, LAST + 1):
        with (
            caplog.at_level(logging.WARNING, logger="agentcage.functions"),
            pytest.raises(NotFoundError),
        ):
            harness.functions["bridge_to_aws"](
                sb_message(dump_envelope(request), delivery_count=delivery, message_id="forged")
            )

    # THEN nothing was sent to AWS, on any delivery
    assert len(harness.bridge.sent) == bridged
    # AND each delivery was logged with the request's trace id; the last one counted it once
    refusals = [r for r in caplog.records if getattr(r, "event", None) == "request_not_forwarded"]
    assert len(refusals) == LAST
    assert {getattr(r, "trace_id", None) for r in refusals} == {request.trace.trace_id}
    assert {getattr(r, "code", None) for r in refusals} == {"not_found"}
    assert counted == [(METRIC_UNVOUCHED_MESSAGES, TOOL_REQUESTS_QUEUE)]
    # AND the task goes on as it was
    assert get_task(harness, task_id)["state"] == "awaiting_approval"
    assert "task_failed" not in [e.kind for e in harness.coordinator.ledger.audit(task_id)]


def test_a_dispatched_request_delivered_again_is_forwarded_again(
    harness: Harness, counted: list[tuple[str, str]]
) -> None:
    # GIVEN a request the coordinator dispatched (and the bridge already forwarded once)
    waiting_for_approval(harness)
    request = dispatched(harness)
    bridged = len(harness.bridge.sent)

    # WHEN Service Bus delivers it again (at least once delivery)
    harness.functions["bridge_to_aws"](sb_message(dump_envelope(request), delivery_count=2))

    # THEN it is forwarded as it is (the executor consumes its reservation once), and nothing is counted
    assert len(harness.bridge.sent) == bridged + 1
    assert parse_envelope(ToolRequest, harness.bridge.sent[-1][1]) == request
    assert counted == []
