"""What the DEPLOYED delivery settings guarantee when a consumer dies holding a message (issue 12,
defect 5; infra/DEPLOY.md, "A call lost across a crash").

Every number is read from what the program registers, on both sides of each inequality: the SQS
queue's visibility timeout and redrive ``maxReceiveCount``, the executor Lambda's timeout and its
environment (its lease: ``AGENTCAGE_EXECUTOR_LEASE_SECONDS``, else its timeout plus the margin), the
reservation lifetime in the budget file packaged with it; the Service Bus queues' lock duration and
max delivery count, and the Functions host's lock renewal and function timeout (``host.json``, shipped
at the Function App package's root). Changing one side alone (a queue's window, the manifest's timeout, a
lease override, the budget's reservation lifetime, the host's renewal) fails here.
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import timedelta
from typing import Any

import yaml
from infra_harness import REPO_ROOT, StackRun

from agentcage.budget.config import load_budget_config
from agentcage.constants import TOOL_REQUESTS_QUEUE
from agentcage.topology import QueueSpec, crash_recovery_receive
from functions.aws.executor import executor_lease_seconds

FUNCTION = "aws:lambda/function:Function"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
SB_QUEUE = "azure-native:servicebus:Queue"
BUDGET_FILE = "config/budget.yaml"


def _sqs_queue(run: StackRun, logical: str) -> Any:
    [queue] = [
        q
        for q in run.of_type("aws:sqs/queue:Queue")
        if q.inputs["name"] == f"agentcage-{run.stack}-{logical}"
    ]
    return queue


def _deployed_requests_queue(run: StackRun) -> QueueSpec:
    queue = _sqs_queue(run, TOOL_REQUESTS_QUEUE)
    receives = json.loads(queue.inputs["redrivePolicy"])["maxReceiveCount"]
    return QueueSpec(
        TOOL_REQUESTS_QUEUE, "aws", int(receives), int(queue.inputs["visibilityTimeoutSeconds"]), ""
    )


def _executor(run: StackRun) -> tuple[int, float, int]:
    """The deployed executor's timeout, lease and request lifetime (its reservation's)."""
    function = run.one(FUNCTION, "tool-executor-function").inputs
    timeout = int(function["timeout"])
    lease = executor_lease_seconds(None, function["environment"]["variables"])
    with zipfile.ZipFile(function["code"]["path"]) as archive:
        budget = load_budget_config(yaml.safe_load(archive.read(BUDGET_FILE)) or {})
    return timeout, lease, budget.reservation_ttl_seconds


def test_a_crashed_executor_call_comes_back_after_its_lease_and_before_the_dead_letter_queue(
    run: StackRun,
) -> None:
    # GIVEN the deployed tool-requests queue and executor
    queue = _deployed_requests_queue(run)
    timeout, lease, _ = _executor(run)

    # THEN a live invocation's message is never handed to a second one (Lambda stops it at its timeout)
    assert queue.lock_seconds >= timeout
    # AND the lease outlives any invocation, so a consumed reservation older than it is a dead attempt
    assert lease > timeout
    # AND a request received inside the lease (which raises to stay queued) comes back once, after it
    assert queue.lock_seconds > lease
    # AND the receive that comes a lease after the consume (at most a timeout after the crashed receive)
    # is within maxReceiveCount, with one to spare: the call is recovered, never dead-lettered for it
    receive = crash_recovery_receive(queue, consumer_timeout_s=timeout, lease_s=lease)
    assert receive <= queue.max_deliveries - 1, (receive, queue)


def test_the_recovering_delivery_comes_while_the_request_is_still_valid(run: StackRun) -> None:
    # GIVEN the deployed queue, the executor, and the lifetime of the request (its reservation's)
    queue = _deployed_requests_queue(run)
    timeout, lease, lifetime = _executor(run)
    receive = crash_recovery_receive(queue, consumer_timeout_s=timeout, lease_s=lease)

    # THEN the recovering receive comes (receive - 1) windows after the crashed one, and a request the
    # executor first received within an executor timeout of its dispatch is still valid then (an
    # expired one is answered envelope_expired, and the approved call is never made)
    assert lifetime - (receive - 1) * queue.lock_seconds >= timeout, (lifetime, receive, queue)


def test_every_sqs_queue_hides_a_message_as_long_as_its_consumer_may_run(run: StackRun) -> None:
    queues = {q.outputs["arn"]: q.inputs for q in run.of_type("aws:sqs/queue:Queue")}
    functions = {f.outputs["arn"]: f.inputs for f in run.of_type(FUNCTION)}
    mappings = run.of_type(MAPPING)
    assert mappings
    for mapping in mappings:
        queue, function = queues[mapping.inputs["eventSourceArn"]], functions[mapping.inputs["functionName"]]
        assert queue["visibilityTimeoutSeconds"] >= function["timeout"], (queue["name"], function["name"])


_ISO_SECONDS = re.compile(r"PT(\d+)S")
_HOST_SPAN = re.compile(r"(\d\d):(\d\d):(\d\d)")


def _host_span(value: str) -> timedelta:
    match = _HOST_SPAN.fullmatch(value)
    assert match, f"a host.json time span this test cannot read: {value}"
    hours, minutes, seconds = (int(part) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _host_json() -> dict[str, Any]:
    """The Functions host's settings, as the Function App package ships them at its root."""
    return dict(json.loads((REPO_ROOT / "functions" / "azure" / "host.json").read_text(encoding="utf-8")))


def test_a_service_bus_message_stays_locked_as_long_as_its_function_may_run(run: StackRun) -> None:
    # GIVEN the Functions host's settings and every Service Bus queue the coordinator consumes
    host = _host_json()
    service_bus = host["extensions"]["serviceBus"]
    function_timeout = _host_span(host["functionTimeout"])
    renewal = _host_span(service_bus["maxAutoLockRenewalDuration"])
    queues = run.of_type(SB_QUEUE)
    assert queues

    # THEN the lock is held at least as long as a function may run: the host renews it for
    # maxAutoLockRenewalDuration (and the last renewal lasts one lock duration at most), so a step
    # that runs longer would be delivered to a second invocation while the first still runs
    for queue in queues:
        match = _ISO_SECONDS.fullmatch(queue.inputs["lockDuration"])
        assert match, queue.inputs["lockDuration"]
        lock = timedelta(seconds=int(match.group(1)))
        assert max(renewal, lock) >= function_timeout, (queue.inputs["queueName"], renewal, function_timeout)
        # AND a message survives a crash of its consumer on all but its last delivery (a crash uses one)
        assert queue.inputs["maxDeliveryCount"] >= 2
    # a message is settled only by the host, after its function returned (completed) or raised (abandoned)
    assert service_bus["autoCompleteMessages"] is True
