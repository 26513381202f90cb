"""The local runtime finds the timer functions and the dead-letters Lambda, and runs timers on an interval."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from agentcage.constants import LOCAL_TIMER_SECONDS_ENV
from agentcage.errors import ConfigurationError
from agentcage.local.broker import DurableBroker, QueueKey
from agentcage.local.discovery import AzureFunction, SystemWiring, check_wiring, discover, find_project_root
from agentcage.local.host import DEFAULT_TIMER_SECONDS, LocalHost
from agentcage.local.workers import InvocationRecord, TimerPool


@pytest.fixture(scope="module")
def wiring() -> SystemWiring:
    return discover(find_project_root())


def test_the_approval_expiry_timer_is_discovered_with_its_schedule(wiring: SystemWiring) -> None:
    [timer] = wiring.timer_functions
    assert (timer.name, timer.schedule, timer.trigger_type) == (
        "expire_approvals",
        "0 */5 * * * *",
        "timerTrigger",
    )
    assert timer.queue is None
    assert timer.route is None


def test_the_dead_letters_lambda_consumes_both_aws_dead_letter_queues(wiring: SystemWiring) -> None:
    consumers = wiring.consumers()
    for dlq in ("tool-requests-dlq", "tool-results-dlq"):
        assert consumers[QueueKey("aws", dlq)].name == "dead-letters"
    assert consumers[QueueKey("aws", "tool-requests")].name == "tool-executor"  # unchanged


def test_wiring_whose_dead_letters_nobody_consumes_is_refused(wiring: SystemWiring) -> None:
    # GIVEN the real system without the dead-letters Lambda
    without = dataclasses.replace(
        wiring, lambdas=tuple(s for s in wiring.lambdas if s.name != "dead-letters")
    )
    # THEN a consumed AWS queue would dead-letter into a queue nothing reads: refused, naming both
    with pytest.raises(ConfigurationError) as raised:
        check_wiring(without)
    problems = raised.value.details["problems"]
    assert any("'tool-requests' dead-letters into 'tool-requests-dlq'" in p for p in problems)
    assert any("'tool-results' dead-letters into 'tool-results-dlq'" in p for p in problems)
    check_wiring(wiring)  # the real one passes


def _timer(fn: Any) -> AzureFunction:
    return AzureFunction(
        name=fn.__name__,
        user_function=fn,
        trigger_type="timerTrigger",
        trigger_arg="timer",
        parameters=("timer",),
        schedule="0 */5 * * * *",
    )


def test_a_timer_runs_on_its_interval_and_survives_a_failing_run(tmp_path: Path) -> None:
    # GIVEN a timer function that fails on its first run, and a pool ticking every 20 ms
    runs: list[bool] = []
    enough = threading.Event()

    def tick(timer: func.TimerRequest) -> None:
        runs.append(timer.past_due)
        if len(runs) >= 3:
            enough.set()
        if len(runs) == 1:
            raise RuntimeError("the first run fails")

    records: list[InvocationRecord] = []
    broker = DurableBroker(tmp_path / "q.db", max_deliveries={}, lock_seconds={})
    pool = TimerPool(broker, (_timer(tick),), interval_s=0.02, on_invocation=records.append)

    # WHEN it runs for a while
    pool.start()
    try:
        assert enough.wait(5)
    finally:
        pool.stop()
        broker.close()

    # THEN it ran again after the failure, each run recorded (the first as failed), never past due
    assert len(runs) >= 3
    assert set(runs) == {False}
    assert records[0].failed == 1
    assert all(r.failed == 0 for r in records[1:])
    assert {r.function for r in records} == {"tick"}


def test_a_timer_interval_must_be_positive(tmp_path: Path) -> None:
    broker = DurableBroker(tmp_path / "q.db", max_deliveries={}, lock_seconds={})
    with pytest.raises(ValueError, match="positive"):
        TimerPool(broker, (), interval_s=0)
    broker.close()


def test_the_local_timer_interval_is_argument_then_environment_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOCAL_TIMER_SECONDS_ENV, raising=False)
    assert LocalHost(timer_interval_s=None).timer_interval_s == DEFAULT_TIMER_SECONDS
    monkeypatch.setenv(LOCAL_TIMER_SECONDS_ENV, "2.5")
    assert LocalHost().timer_interval_s == 2.5
    assert LocalHost(timer_interval_s=0.5).timer_interval_s == 0.5
    monkeypatch.setenv(LOCAL_TIMER_SECONDS_ENV, "soon")
    with pytest.raises(ConfigurationError, match=LOCAL_TIMER_SECONDS_ENV):
        LocalHost()
    with pytest.raises(ConfigurationError, match="0-86400"):
        LocalHost(timer_interval_s=-1)
