"""The durable broker: at-least-once delivery, attempt counts, redelivery, dead-lettering, lock loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcage.local.broker import DurableBroker, QueueKey, StoredMessage

STEPS = QueueKey("azure", "agent-steps")
REQUESTS = QueueKey("aws", "tool-requests")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def make_broker(path: Path, clock: Clock, dead: list[StoredMessage] | None = None) -> DurableBroker:
    return DurableBroker(
        path / "queues.db",
        max_deliveries={STEPS: 3, REQUESTS: 2},
        lock_seconds={STEPS: 30, REQUESTS: 60},
        retry_delay_s=1.0,
        on_dead_letter=dead.append if dead is not None else None,
        clock=clock,
    )


def test_a_received_message_is_locked_and_counts_its_delivery(tmp_path: Path) -> None:
    # GIVEN a message on a queue
    clock = Clock()
    broker = make_broker(tmp_path, clock)
    broker.send(STEPS, '{"task_id": "t1"}', properties={"traceparent": "x"}, message_id="m1")
    # WHEN it is received
    [delivery] = broker.receive(STEPS, 5)
    # THEN it carries its first attempt and nobody else gets it while it is locked
    assert (delivery.message_id, delivery.attempts, delivery.properties) == ("m1", 1, {"traceparent": "x"})
    assert broker.receive(STEPS) == []
    clock.now += 29
    assert broker.receive(STEPS) == []


def test_a_lock_that_expires_redelivers_and_refuses_the_late_completion(tmp_path: Path) -> None:
    clock = Clock()
    broker = make_broker(tmp_path, clock)
    broker.send(STEPS, "body")
    [first] = broker.receive(STEPS)
    # WHEN the consumer outlives its lock window
    clock.now += 31
    [second] = broker.receive(STEPS)
    # THEN the message comes again with the attempt counted, and the first consumer's completion is refused
    assert second.attempts == 2
    assert broker.complete(first) is False
    assert broker.complete(second) is True
    assert broker.outstanding() == 0


def test_a_failed_delivery_comes_back_after_the_retry_delay(tmp_path: Path) -> None:
    clock = Clock()
    broker = make_broker(tmp_path, clock)
    broker.send(STEPS, "body")
    [delivery] = broker.receive(STEPS)
    assert broker.fail(delivery, "ModelTimeoutError: slow") == "redelivered"
    assert broker.receive(STEPS) == []
    assert broker.next_visible_in(STEPS) == pytest.approx(1.0)
    clock.now += 1
    [again] = broker.receive(STEPS)
    assert again.attempts == 2


def test_the_last_allowed_failure_dead_letters_with_the_reason(tmp_path: Path) -> None:
    # GIVEN a queue that allows 2 deliveries
    clock = Clock()
    dead: list[StoredMessage] = []
    broker = make_broker(tmp_path, clock, dead)
    broker.send(REQUESTS, "poison")
    # WHEN both deliveries fail (an SQS message comes back when its visibility timeout ends)
    for _ in range(2):
        [delivery] = broker.receive(REQUESTS)
        outcome = broker.fail(delivery, "ValueError: not an envelope")
        clock.now += 60
    # THEN the message is dead-lettered with its reason, the hook saw it, and it is never delivered again
    assert outcome == "dead_lettered"
    assert [m.body for m in dead] == ["poison"]
    assert "not an envelope" in (dead[0].dead_letter_reason or "")
    assert broker.receive(REQUESTS) == []
    assert broker.counts()["aws:tool-requests"] == {"ready": 0, "completed": 0, "dead": 1}


def test_a_message_whose_last_lock_expired_is_dead_lettered_on_the_next_receive(tmp_path: Path) -> None:
    clock = Clock()
    dead: list[StoredMessage] = []
    broker = make_broker(tmp_path, clock, dead)
    broker.send(REQUESTS, "body")
    for _ in range(2):
        broker.receive(REQUESTS)
        clock.now += 61  # the consumer died holding the lock, twice
    assert broker.receive(REQUESTS) == []
    assert len(dead) == 1
    assert "MaxDeliveryCount" in (dead[0].dead_letter_reason or "")


def test_messages_survive_a_new_broker_on_the_same_file_and_abandoned_locks_run_out(
    tmp_path: Path,
) -> None:
    # GIVEN a message in flight when the process died
    clock = Clock()
    broker = make_broker(tmp_path, clock)
    broker.send(STEPS, "in flight")
    broker.send(STEPS, "waiting")
    broker.receive(STEPS)
    broker.close()
    # WHEN a new broker opens the same file and takes over the abandoned lock
    restarted = make_broker(tmp_path, clock)
    assert restarted.reclaim_abandoned_locks() == 1
    # THEN the waiting message is delivered at once, the in-flight one only when its lock runs out,
    # with its earlier attempt counted
    [waiting] = restarted.receive(STEPS, 10)
    assert (waiting.body, waiting.attempts) == ("waiting", 1)
    assert restarted.complete(waiting)
    clock.now += 30
    assert [(d.body, d.attempts) for d in restarted.receive(STEPS, 10)] == [("in flight", 2)]


def test_an_unknown_queue_is_refused(tmp_path: Path) -> None:
    broker = make_broker(tmp_path, Clock())
    with pytest.raises(KeyError, match="nowhere"):
        broker.send(QueueKey("azure", "nowhere"), "body")


def test_completed_messages_are_kept_for_inspection(tmp_path: Path) -> None:
    broker = make_broker(tmp_path, Clock())
    broker.send(STEPS, "one")
    [delivery] = broker.receive(STEPS)
    broker.complete(delivery)
    [stored] = broker.messages(STEPS, state="completed")
    assert (stored.body, stored.attempts) == ("one", 1)
