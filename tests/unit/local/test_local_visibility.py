"""The local queues honour lock and visibility windows as Service Bus and SQS do.

A received message is invisible until its window ends unless it is completed, renewed or explicitly
released; an SQS failure is not a release (the event source mapping leaves the message invisible), a
Service Bus failure is (the Functions host abandons it); receives are counted, and a process that died
holding a lock leaves it to run out.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentcage.local.broker import DurableBroker, QueueKey
from agentcage.local.discovery import LambdaFunction
from agentcage.local.workers import ConsumerPool

STEPS = QueueKey("azure", "agent-steps")
REQUESTS = QueueKey("aws", "tool-requests")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def make_broker(path: Path, clock: Clock, *, window: float = 60, deliveries: int = 5) -> DurableBroker:
    return DurableBroker(
        path / "queues.db",
        max_deliveries={STEPS: deliveries, REQUESTS: deliveries},
        lock_seconds={STEPS: window, REQUESTS: window},
        retry_delay_s=0.2,
        clock=clock,
    )


def test_a_failed_sqs_delivery_stays_invisible_until_its_visibility_timeout_ends(tmp_path: Path) -> None:
    # GIVEN an SQS message received at t=0 with a 60 s visibility timeout
    clock = Clock()
    broker = make_broker(tmp_path, clock)
    broker.send(REQUESTS, "request")
    [delivery] = broker.receive(REQUESTS)
    # WHEN its consumer fails on it (the executor raised to stay queued)
    clock.now += 1
    assert broker.fail(delivery, "RetryLaterError: within the lease") == "redelivered"
    # THEN it is not delivered again after the retry delay, only when the visibility timeout ends
    clock.now += 1
    assert broker.receive(REQUESTS) == []
    assert broker.next_visible_in(REQUESTS) == pytest.approx(58)
    clock.now += 57.9
    assert broker.receive(REQUESTS) == []
    clock.now += 0.1
    [again] = broker.receive(REQUESTS)
    assert again.attempts == 2


def test_a_failed_service_bus_delivery_is_abandoned_and_comes_back_after_the_retry_delay(
    tmp_path: Path,
) -> None:
    clock = Clock()
    broker = make_broker(tmp_path, clock)
    broker.send(STEPS, "step")
    [delivery] = broker.receive(STEPS)
    assert broker.fail(delivery, "ModelTimeoutError: slow") == "redelivered"
    clock.now += 0.2
    [again] = broker.receive(STEPS)
    assert again.attempts == 2


def test_a_renewed_lock_keeps_the_message_from_other_consumers_and_its_completion_counts(
    tmp_path: Path,
) -> None:
    # GIVEN a message whose consumer runs past its first window, renewing its lock
    clock = Clock()
    broker = make_broker(tmp_path, clock)
    broker.send(REQUESTS, "slow call")
    [delivery] = broker.receive(REQUESTS)
    clock.now += 50
    assert broker.renew([delivery]) == 1
    # WHEN the first window has passed
    clock.now += 50
    # THEN nobody else receives it, and its consumer's completion is accepted
    assert broker.receive(REQUESTS) == []
    assert broker.complete(delivery) is True
    assert broker.outstanding() == 0


def test_a_lock_lost_to_another_consumer_is_not_renewed(tmp_path: Path) -> None:
    clock = Clock()
    broker = make_broker(tmp_path, clock)
    broker.send(REQUESTS, "call")
    [first] = broker.receive(REQUESTS)
    clock.now += 61
    [second] = broker.receive(REQUESTS)
    assert broker.renew([first]) == 0
    assert broker.renew([second]) == 1


def test_receives_are_counted_one_window_apart_and_the_last_failure_is_dead_lettered(tmp_path: Path) -> None:
    # GIVEN an SQS message whose consumer fails on every delivery
    clock = Clock()
    broker = make_broker(tmp_path, clock, deliveries=5)
    broker.send(REQUESTS, "always fails")
    received_at: list[float] = []
    outcome = ""
    # WHEN the consumer polls every second for ten minutes
    for _ in range(600):
        for delivery in broker.receive(REQUESTS):
            received_at.append(clock.now - 1_000)
            outcome = broker.fail(delivery, "boom")
        clock.now += 1
    # THEN it was received 5 times, once per 60 s window, then dead-lettered
    assert received_at == [0, 60, 120, 180, 240]
    assert outcome == "dead_lettered"
    assert broker.counts()["aws:tool-requests"]["dead"] == 1


def test_after_a_crash_a_held_lock_runs_out_no_earlier_and_no_later_than_the_new_window(
    tmp_path: Path,
) -> None:
    # GIVEN a process with 600 s windows that died holding a message, and one that failed it
    clock = Clock()
    old = make_broker(tmp_path, clock, window=600)
    old.send(REQUESTS, "held")
    old.send(REQUESTS, "failed")
    held, failed = old.receive(REQUESTS, 2)
    old.fail(failed, "RetryLaterError")
    old.close()
    # WHEN a host with 60 s windows starts on the same file 5 s later
    clock.now += 5
    restarted = make_broker(tmp_path, clock, window=60)
    assert restarted.reclaim_abandoned_locks() == 1
    # THEN neither comes back before the new window ends, and both do then, their receive counted
    clock.now += 59.9
    assert restarted.receive(REQUESTS, 10) == []
    clock.now += 0.1
    assert sorted((d.body, d.attempts) for d in restarted.receive(REQUESTS, 10)) == [
        ("failed", 2),
        ("held", 2),
    ]
    assert restarted.complete(held) is False  # the dead process's lock is gone


def test_the_pool_keeps_a_running_invocations_lock_past_its_window(tmp_path: Path) -> None:
    # GIVEN an SQS queue with a 1 s visibility timeout, two consumers, and a call that runs 3 s
    broker = DurableBroker(
        tmp_path / "q.db", max_deliveries={REQUESTS: 5}, lock_seconds={REQUESTS: 1.0}, retry_delay_s=0.01
    )
    seen: list[str] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        for record in event["Records"]:
            with lock:
                seen.append(record["attributes"]["ApproximateReceiveCount"])
        time.sleep(3.0)  # three windows: only the pool's renewals keep the message from the other thread
        return {"batchItemFailures": []}

    executor = LambdaFunction("executor", handler, "tests.executor", "sqs", "tool-requests", 5, 30, ())
    broker.send(REQUESTS, "slow")
    pool = ConsumerPool(broker, {REQUESTS: executor}, threads_per_queue=2, poll_interval_s=0.05)
    # WHEN the pool runs it to the end
    pool.start()
    deadline = time.monotonic() + 60
    while broker.outstanding() and time.monotonic() < deadline:
        time.sleep(0.05)
    pool.stop()
    # THEN it was delivered once and completed
    assert seen == ["1"]
    assert [m.attempts for m in broker.messages(REQUESTS, state="completed")] == [1]
