"""The queues of the system and how they deliver: one declaration read by infra and the local runtime.

Queue *names* that functions bind to live in the function code (Service Bus trigger/output bindings in
``functions/azure``, the Lambda manifest in ``functions/aws/manifest.py``); this module holds what the
code does not say: delivery settings. Infra creates the queues with these settings and the local
runtime delivers with the same semantics (at-least-once, redelivery with a visible attempt count,
dead-lettering after ``max_deliveries``), so a mismatch shows up locally as it would in the cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE

__all__ = ["QUEUES", "QueueSpec", "queue_spec"]


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue's cloud, delivery attempts before dead-lettering, and lock/visibility window."""

    name: str
    cloud: Literal["azure", "aws"]
    max_deliveries: int
    lock_seconds: int
    purpose: str


QUEUES: Final[tuple[QueueSpec, ...]] = (
    QueueSpec(AGENT_STEPS_QUEUE, "azure", 5, 300, "one model step of a task (coordinator)"),
    QueueSpec(TOOL_REQUESTS_QUEUE, "azure", 5, 60, "authorised tool calls, bridged to AWS"),
    QueueSpec(TOOL_RESULTS_QUEUE, "azure", 5, 60, "tool results back from AWS (coordinator)"),
    QueueSpec(TOOL_REQUESTS_QUEUE, "aws", 5, 180, "authorised tool calls for the tool executor Lambda"),
    QueueSpec(TOOL_RESULTS_QUEUE, "aws", 5, 120, "tool results for the bridge-to-Azure Lambda"),
)


def queue_spec(name: str, cloud: Literal["azure", "aws"]) -> QueueSpec:
    """The spec of one queue; ``KeyError`` naming it when there is none."""
    for spec in QUEUES:
        if spec.name == name and spec.cloud == cloud:
            return spec
    raise KeyError(f"no {cloud} queue named {name!r}")
