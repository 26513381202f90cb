"""Governance and failures through the queue-triggered functions: denial, hallucination, timeout, poison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentcage.coordinator import ReadToolTargetResolver
from agentcage.errors import TransportError
from tests.functional.azure.azure_support import sb_message
from tests.functional.azure.conftest import Harness, build_harness
from tests.functional.azure.test_azure_return_exception import REQUEST, get_task, start
from tests.functional.coordinator.coordinator_support import (
    VOLUME,
    FakeClock,
    TimingOutModel,
    open_test_ledger,
)


def test_a_destructive_call_on_a_production_like_volume_is_denied_and_the_model_is_told(
    harness: Harness,
) -> None:
    # GIVEN the janitor agent, whose target tags are read from the service (never from the model)
    harness.coordinator.targets = ReadToolTargetResolver(lambda tool, args: VOLUME)
    task_id = start(harness, "Clean up unused volumes", agent="janitor-agent")["task_id"]

    harness.pump.run()

    view = get_task(harness, task_id)
    assert view["state"] == "completed"
    delete = view["steps"][1]["calls"][0]
    assert delete["tool"] == "deleteVolume"
    assert delete["outcome"] == "local"
    assert delete["decision"]["decision"] == "deny"
    assert "destructive-forbidden-on-production-like-target" in delete["decision"]["policies"]
    assert delete["result"]["status"] == "denied"
    assert "Denied: vol-0a1b2c3d" in view["final_answer"]
    assert [r.tool for r in harness.executor.executed] == ["listVolumes"]
    assert view["budget"]["used"]["tool_calls"] == 2  # the refused call counts too


def test_a_hallucinated_argument_comes_back_as_a_structured_error_and_the_model_corrects_it(
    harness: Harness,
) -> None:
    task_id = start(harness, "hallucinate a lookup of customer C-1001")["task_id"]

    harness.pump.run()

    view = get_task(harness, task_id)
    first, second = view["steps"][0]["calls"][0], view["steps"][1]["calls"][0]
    assert first["arguments"] == {"customerId": "C-1001", "include_history": True}
    assert first["outcome"] == "local"
    assert first["result"]["status"] == "error"
    error = first["result"]["content"]["error"]
    assert error["code"] == "invalid_arguments"
    assert error["problems"]
    assert second["arguments"] == {"customer_id": "C-1001"}
    assert second["outcome"] == "dispatched"
    assert view["state"] == "completed"
    assert "tier gold" in view["final_answer"]
    assert [r.args for r in harness.executor.executed] == [{"customer_id": "C-1001"}]


def _used(harness: Harness, task_id: str) -> dict[str, Any]:
    return dict(get_task(harness, task_id)["budget"]["used"])


def _charged(ledger: Any, task_id: str) -> list[dict[str, int]]:
    """The reserved upper bounds of the task's model calls that failed after they were sent."""
    return [e.data["amounts"] for e in ledger.audit(task_id) if e.kind == "model_call_charged"]


def test_a_model_timeout_is_redelivered_and_resumes_without_counting_twice(
    functions: dict[str, Any], ledger_backend: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    with open_test_ledger(ledger_backend, clock, tmp_path) as ledger:
        # GIVEN a model whose second call times out
        harness = build_harness(functions, ledger, clock, model=TimingOutModel(fail_on={2}))
        timed_out = start(harness)["task_id"]

        # WHEN the step message is redelivered after the timeout
        harness.pump.run()

        # THEN the task went on from its checkpoint and used what a clean task of the same request
        # used, plus exactly the timed-out call's reserved upper bound (it may have been billed: a
        # separate spend), with the successful retry counted once
        assert [type(e).__name__ for e in harness.pump.errors] == ["ModelTimeoutError"]
        assert get_task(harness, timed_out)["state"] == "awaiting_approval"
        clean = start(harness)["task_id"]
        harness.pump.run()
        (bound,) = _charged(ledger, timed_out)
        assert bound["model_steps"] == 1
        assert bound["tokens"] > 0
        clean_used = _used(harness, clean)
        assert _used(harness, timed_out) == {name: clean_used[name] + bound[name] for name in clean_used}
        assert _charged(ledger, clean) == []
        tools = [r.tool for r in harness.executor.executed]
        assert tools == ["getCustomer", "listRecentOrders", "assessReturnException"] * 2
        events = [e.kind for e in ledger.audit(timed_out)]
        assert events.count("model_error") == 1
        assert events.count("thought") == 3


def test_a_step_that_fails_on_every_delivery_ends_the_task_failed_with_the_reason(
    functions: dict[str, Any], tmp_path: Path
) -> None:
    clock = FakeClock()
    with open_test_ledger("sqlite", clock, tmp_path) as ledger:
        harness = build_harness(functions, ledger, clock, model=TimingOutModel(fail_on=set(range(1, 10))))
        task_id = start(harness, REQUEST)["task_id"]

        harness.pump.run()

        assert len(harness.pump.errors) == 5
        assert len(harness.pump.dead_letters) == 1
        view = get_task(harness, task_id)
        assert view["state"] == "failed"
        assert "model_timeout" in view["error"]["message"]
        assert "every delivery" in view["error"]["message"]
        # each delivery's timed-out call is charged its upper bound, once, and nothing stays reserved
        charged = _charged(ledger, task_id)
        assert len(charged) == 5
        assert view["budget"]["used"]["tokens"] == sum(c["tokens"] for c in charged)
        assert view["budget"]["used"]["model_steps"] == 5
        assert view["budget"]["reserved"]["tokens"] == 0


def test_a_failed_send_to_aws_raises_so_service_bus_redelivers(harness: Harness) -> None:
    start(harness)
    harness.bridge.failures = 2  # the first two sends of the first request fail

    harness.pump.run()

    assert [type(e) for e in harness.pump.errors] == [TransportError, TransportError]
    assert not harness.pump.dead_letters
    assert len(harness.executor.executed) == 3


def test_a_malformed_message_raises_and_is_dead_lettered_in_the_end(harness: Harness) -> None:
    for name in ("run_agent_step", "record_tool_result", "bridge_to_aws"):
        with pytest.raises(Exception, match=r"invalid|not valid JSON"):
            harness.functions[name](sb_message('{"task_id": 1}'))
