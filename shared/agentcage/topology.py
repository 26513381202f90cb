"""The queues of the system and how they deliver: one declaration read by infra and the local runtime.

Queue *names* that functions bind to live in the function code (Service Bus trigger/output bindings in
``functions/azure``, the Lambda manifest in ``functions/aws/manifest.py``); this module holds what the
code does not say: delivery settings. Infra creates the queues with these settings and the local
runtime delivers with the same semantics (at-least-once, redelivery with a visible attempt count,
dead-lettering after ``max_deliveries``), so a mismatch shows up locally as it would in the cloud.

The AWS work queues' dead-letter queues are queues here too (``dead_letter_of`` names the queue they
catch for): the ``dead-letters`` Lambda consumes them, so a message that failed every delivery still
ends with its task's outcome recorded. A dead-letter queue has no dead-letter queue of its own (in the
cloud a message the Lambda keeps failing on stays until its retention ends, and the age alarm fires;
locally it is kept ``dead`` after ``max_deliveries``).

What a failed delivery does differs by cloud, and the local broker copies it (:attr:`QueueSpec.abandons`):
the Functions host *abandons* a Service Bus message its function failed on, so it is delivered again
at once; a Lambda event source mapping leaves a failed SQS message invisible until its visibility
timeout ends. A consumer that dies holds its lock or visibility to the end of the window on both.
:func:`crash_recovery_receive` works out, from these settings, on which receive a request whose
executor died mid-call is delivered after the executor's lease (so it is recovered, not dead-lettered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE
from agentcage.errors import ConfigurationError

__all__ = [
    "DEAD_LETTER_SUFFIX",
    "QUEUES",
    "QueueSpec",
    "crash_recovery_receive",
    "dead_letter_queue",
    "queue_spec",
]

DEAD_LETTER_SUFFIX: Final = "-dlq"
"""A dead-letter queue is named after the queue it catches for, with this suffix."""


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue's cloud, delivery attempts before dead-lettering, and lock/visibility window.

    ``max_deliveries`` is Service Bus ``maxDeliveryCount`` / the SQS redrive ``maxReceiveCount`` (it
    counts receives, so a consumer that died holding the message used one); ``lock_seconds`` is the
    Service Bus ``lockDuration`` / the SQS ``VisibilityTimeout``.
    """

    name: str
    cloud: Literal["azure", "aws"]
    max_deliveries: int
    lock_seconds: int
    purpose: str
    dead_letter_of: str | None = None

    @property
    def abandons(self) -> bool:
        """Whether a failed delivery is released at once (Service Bus: the Functions host abandons it)
        rather than kept invisible until its window ends (SQS under a Lambda event source mapping)."""
        return self.cloud == "azure"


QUEUES: Final[tuple[QueueSpec, ...]] = (
    QueueSpec(AGENT_STEPS_QUEUE, "azure", 5, 300, "one model step of a task (coordinator)"),
    QueueSpec(TOOL_REQUESTS_QUEUE, "azure", 5, 60, "authorised tool calls, bridged to AWS"),
    QueueSpec(TOOL_RESULTS_QUEUE, "azure", 5, 60, "tool results back from AWS (coordinator)"),
    QueueSpec(TOOL_REQUESTS_QUEUE, "aws", 5, 180, "authorised tool calls for the tool executor Lambda"),
    QueueSpec(TOOL_RESULTS_QUEUE, "aws", 5, 120, "tool results for the bridge-to-Azure Lambda"),
    # The dead-letters Lambda runs for up to 30 s: six times that, as for the work queues.
    QueueSpec(
        TOOL_REQUESTS_QUEUE + DEAD_LETTER_SUFFIX,
        "aws",
        5,
        180,
        "requests the executor failed on every delivery: answered dead_lettered by the dead-letters Lambda",
        dead_letter_of=TOOL_REQUESTS_QUEUE,
    ),
    QueueSpec(
        TOOL_RESULTS_QUEUE + DEAD_LETTER_SUFFIX,
        "aws",
        5,
        180,
        "results the bridge could not deliver to Azure: their tasks fail (the dead-letters Lambda)",
        dead_letter_of=TOOL_RESULTS_QUEUE,
    ),
)


def queue_spec(name: str, cloud: Literal["azure", "aws"]) -> QueueSpec:
    """The spec of one queue; ``KeyError`` naming it when there is none."""
    for spec in QUEUES:
        if spec.name == name and spec.cloud == cloud:
            return spec
    raise KeyError(f"no {cloud} queue named {name!r}")


def dead_letter_queue(name: str, cloud: Literal["azure", "aws"] = "aws") -> QueueSpec:
    """The spec of the dead-letter queue catching for queue ``name``; ``KeyError`` when there is none."""
    for spec in QUEUES:
        if spec.dead_letter_of == name and spec.cloud == cloud:
            return spec
    raise KeyError(f"no {cloud} dead-letter queue for {name!r}")


def crash_recovery_receive(
    spec: QueueSpec, *, consumer_timeout_s: float, lease_s: float, scale: float = 1.0
) -> int:
    """The receive (2 = the first redelivery) on which a message whose consumer died mid-call comes back
    after the consumer's lease, with the windows of ``spec`` times ``scale`` (the local runtime's).

    The dead consumer received the message at ``t0`` (receive 1) and recorded its claim at most
    ``consumer_timeout_s`` later; receive ``k`` comes ``(k - 1) * window`` after ``t0`` at the earliest
    (the message stays invisible to the end of each window: the consumer died, or raised to stay
    queued). So the first receive at least ``lease_s`` after the claim is the smallest ``k`` with
    ``(k - 1) * window >= consumer_timeout_s + lease_s``. Raises :class:`ConfigurationError` when that
    receive is past ``max_deliveries`` (the message would be dead-lettered first), or when the window is
    shorter than the consumer may run (a live consumer's message would be delivered to another one).
    """
    window = spec.lock_seconds * scale
    if window <= 0 or window < consumer_timeout_s:
        raise ConfigurationError(
            f"{spec.cloud}:{spec.name}: its window of {window:g} s is shorter than its consumer may run "
            f"({consumer_timeout_s:g} s): a message would be delivered again while it is being handled",
            details={
                "queue": spec.name,
                "window_seconds": window,
                "consumer_timeout_seconds": consumer_timeout_s,
            },
        )
    receive = 1 + math.ceil((consumer_timeout_s + lease_s) / window)
    if receive > spec.max_deliveries:
        raise ConfigurationError(
            f"{spec.cloud}:{spec.name}: a message whose consumer died is delivered after the lease of "
            f"{lease_s:g} s only on receive {receive}, past its {spec.max_deliveries} deliveries: it "
            "would be dead-lettered instead of recovered",
            details={
                "queue": spec.name,
                "window_seconds": window,
                "lease_seconds": lease_s,
                "max_deliveries": spec.max_deliveries,
            },
        )
    return receive
