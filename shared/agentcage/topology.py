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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE

__all__ = ["DEAD_LETTER_SUFFIX", "QUEUES", "QueueSpec", "dead_letter_queue", "queue_spec"]

DEAD_LETTER_SUFFIX: Final = "-dlq"
"""A dead-letter queue is named after the queue it catches for, with this suffix."""


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue's cloud, delivery attempts before dead-lettering, and lock/visibility window."""

    name: str
    cloud: Literal["azure", "aws"]
    max_deliveries: int
    lock_seconds: int
    purpose: str
    dead_letter_of: str | None = None


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
