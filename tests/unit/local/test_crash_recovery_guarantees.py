"""What the delivery settings guarantee when the executor dies inside a call (issue 12, defect 5).

The executor consumes a request's reservation, then calls the service; if it dies in between, the
request must come back AFTER the executor's lease (so the attempt is certainly dead and is recovered),
BEFORE the queue dead-letters it, and before the request expires. These are invariants over the one
declaration of each number: the queues' windows and receive counts (:mod:`agentcage.topology`, which
infra gives SQS and Service Bus), the executor's timeout (:mod:`functions.aws.manifest`), its lease
(:func:`~functions.aws.executor.executor_lease_seconds`) and the reservation's lifetime (the budget
defaults), in the cloud and at the local runtime's time scale.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agentcage.budget import BudgetConfig
from agentcage.constants import TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE
from agentcage.errors import ConfigurationError
from agentcage.local.broker import DurableBroker, QueueKey
from agentcage.local.config import DEFAULT_TIME_SCALE, LocalConfig, app_settings
from agentcage.topology import crash_recovery_receive, queue_spec
from functions.aws.executor import executor_lease_seconds
from functions.aws.manifest import LAMBDAS, lambda_spec

REQUESTS = queue_spec(TOOL_REQUESTS_QUEUE, "aws")
EXECUTOR_TIMEOUT = lambda_spec("tool-executor").timeout_seconds
CLOUD_LEASE = executor_lease_seconds(None, {})  # no override: the executor's timeout plus the margin
RESERVATION_TTL = BudgetConfig().reservation_ttl_seconds  # a ToolRequest expires with its reservation


def test_the_lease_outlasts_any_executor_invocation() -> None:
    assert CLOUD_LEASE > EXECUTOR_TIMEOUT


def test_every_sqs_window_covers_its_consumers_timeout() -> None:
    # A live invocation's message is never handed to a second one (Lambda kills it at its timeout).
    for function in LAMBDAS:
        for name in function.queues:
            spec = queue_spec(name, "aws")
            assert spec.lock_seconds >= function.timeout_seconds, (name, function.name)


def test_sqs_delivers_a_crashed_call_again_after_the_lease_and_before_the_dead_letter_queue() -> None:
    # The brief's form: all receives together span more than the lease ...
    assert REQUESTS.max_deliveries * REQUESTS.lock_seconds > CLOUD_LEASE
    # ... and the precise one: the receive after the crashed one that comes a lease after the consume
    # (at most a timeout after the crashed receive) is the FIRST redelivery, with three to spare.
    receive = crash_recovery_receive(REQUESTS, consumer_timeout_s=EXECUTOR_TIMEOUT, lease_s=CLOUD_LEASE)
    assert receive == 2
    assert REQUESTS.lock_seconds >= EXECUTOR_TIMEOUT + CLOUD_LEASE
    assert REQUESTS.max_deliveries - receive >= 3


def test_the_recovering_delivery_comes_before_the_request_expires() -> None:
    # The recovering receive comes (receive - 1) windows after the crashed receive; the request is
    # valid for the reservation's lifetime from its dispatch. So any request the executor first
    # receives within `slack` seconds of its dispatch is recovered while still valid; the slack must
    # at least cover one more executor timeout of queueing (the bridge from Service Bus is faster).
    receive = crash_recovery_receive(REQUESTS, consumer_timeout_s=EXECUTOR_TIMEOUT, lease_s=CLOUD_LEASE)
    slack = RESERVATION_TTL - (receive - 1) * REQUESTS.lock_seconds
    assert slack >= EXECUTOR_TIMEOUT, slack  # 300 - 180 = 120 s today


def test_a_request_within_the_lease_stays_queued_for_one_window_only() -> None:
    # A copy arriving within the lease raises to stay queued; it must not come back inside the lease
    # again (each such receive spends one of the five).
    assert REQUESTS.lock_seconds > CLOUD_LEASE


@pytest.mark.parametrize("retry_delay_s", [0.0, 0.05, 0.2, 7.5])
def test_the_local_runtime_keeps_the_same_guarantee(tmp_path: Path, retry_delay_s: float) -> None:
    config = LocalConfig(state_dir=tmp_path, retry_delay_s=retry_delay_s)
    lease = executor_lease_seconds(None, app_settings(config, "http://x", {}))
    receive = crash_recovery_receive(
        REQUESTS,
        consumer_timeout_s=EXECUTOR_TIMEOUT * config.time_scale,
        lease_s=lease,
        scale=config.time_scale,
    )
    assert receive <= REQUESTS.max_deliveries - 1  # a receive to spare, as in the cloud


def test_the_default_local_scale_maps_the_cloud_lease_onto_the_local_lease(tmp_path: Path) -> None:
    local_lease = executor_lease_seconds(None, app_settings(LocalConfig(state_dir=tmp_path), "http://x", {}))
    assert math.isclose(CLOUD_LEASE * DEFAULT_TIME_SCALE, local_lease)


def test_a_local_lease_too_long_for_the_scaled_windows_is_refused() -> None:
    # --retry-delay 60 makes the local lease 60 s; 12 s windows would dead-letter before recovering.
    with pytest.raises(ConfigurationError, match="dead-lettered instead of recovered"):
        crash_recovery_receive(
            REQUESTS,
            consumer_timeout_s=EXECUTOR_TIMEOUT * DEFAULT_TIME_SCALE,
            lease_s=60,
            scale=DEFAULT_TIME_SCALE,
        )


def test_a_window_shorter_than_its_consumer_is_refused() -> None:
    results = queue_spec(TOOL_RESULTS_QUEUE, "aws")
    with pytest.raises(ConfigurationError, match="shorter than its consumer"):
        crash_recovery_receive(results, consumer_timeout_s=results.lock_seconds + 1, lease_s=0)


@pytest.mark.parametrize("scale", [1.0, DEFAULT_TIME_SCALE])
@pytest.mark.parametrize("consumed_after", [0.0, 0.5, 1.0])  # fraction of the executor timeout
@pytest.mark.parametrize("restart_after", [0.0, 0.1, 0.9])  # fraction of the window: kill -9, restart
def test_a_crashed_call_is_recovered_not_dead_lettered_by_the_broker(
    tmp_path: Path, scale: float, consumed_after: float, restart_after: float
) -> None:
    """The executor's rule played against the broker with the topology's windows and counts."""
    # GIVEN the tool-requests queue as declared (scaled as the local host scales it) and the lease
    clock = [10_000.0]
    key = QueueKey("aws", TOOL_REQUESTS_QUEUE)
    window = REQUESTS.lock_seconds * scale
    timeout = EXECUTOR_TIMEOUT * scale
    lease = CLOUD_LEASE * scale

    def broker() -> DurableBroker:
        return DurableBroker(
            tmp_path / "queues.db",
            max_deliveries={key: REQUESTS.max_deliveries},
            lock_seconds={key: window},
            clock=lambda: clock[0],
        )

    first = broker()
    first.send(key, "approved refund")
    # WHEN the executor receives it, consumes the reservation, and the process dies inside the call
    [crashed] = first.receive(key)
    consumed_at = clock[0] + consumed_after * timeout
    clock[0] += restart_after * window
    first.close()
    restarted = broker()
    restarted.reclaim_abandoned_locks()
    # ... and the restarted executor answers every later receive as it does: within the lease it stays
    # queued, after it the call is recovered (polling every 1/20 of a window until the message is gone)
    outcomes: list[str] = []
    while restarted.outstanding() and clock[0] < consumed_at + 10 * window:
        for delivery in restarted.receive(key):
            if clock[0] - consumed_at < lease:
                outcomes.append(restarted.fail(delivery, "RetryLaterError: within the lease"))
            else:
                assert restarted.complete(delivery)
                outcomes.append("recovered")
        clock[0] += window / 20
    # THEN the call was recovered on the first redelivery, never dead-lettered
    assert crashed.attempts == 1
    assert outcomes == ["recovered"]
    assert restarted.counts()["aws:tool-requests"] == {"ready": 0, "completed": 1, "dead": 0}
