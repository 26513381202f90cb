"""What goes into the coordinator (a task request) and what comes out (the messages to send)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from agentcage.budget.config import BudgetOverrides
from agentcage.envelopes import AgentStep, ToolRequest
from agentcage.ledger.models import TaskRecord

__all__ = [
    "RESERVED_CONTEXT_PREFIX",
    "Outbox",
    "StartTask",
    "Started",
    "request_message_id",
    "step_message_id",
]

RESERVED_CONTEXT_PREFIX = "parent_"
"""Task context keys only the coordinator writes: a child task's link to its parent's ``delegate`` call
(``parent_task_id``, ``parent_request_id``). A caller who could set them could write a result into
another task's pending call, so ``POST /api/tasks`` refuses any key with this prefix."""


class StartTask(BaseModel):
    """The body of ``POST /api/tasks``: the request in plain language, the agent, budget overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: str = Field(min_length=1, max_length=8000)
    agent: str | None = Field(default=None, min_length=1, max_length=64)
    budget: BudgetOverrides | None = None
    context: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("context")
    @classmethod
    def _no_reserved_keys(cls, context: dict[str, JsonValue]) -> dict[str, JsonValue]:
        reserved = sorted(key for key in context if key.startswith(RESERVED_CONTEXT_PREFIX))
        if reserved:
            raise ValueError(
                f"context keys starting with {RESERVED_CONTEXT_PREFIX!r} are reserved for delegation: "
                + ", ".join(key[:64] for key in reserved[:5])
            )
        return context


@dataclass(frozen=True, slots=True)
class Started:
    """A task that was created, and the first step for the caller to send."""

    task: TaskRecord
    step: AgentStep


@dataclass(slots=True)
class Outbox:
    """The messages one coordinator operation asks its caller to send (at least once, in any order).

    Every message is deterministic for the state it came from, so sending it again after a failure
    is harmless: a ``ToolRequest`` carries a consume-once reservation and an ``AgentStep`` for a step
    that already ran is ignored.
    """

    tool_requests: list[ToolRequest] = field(default_factory=list)
    agent_steps: list[AgentStep] = field(default_factory=list)
    step_message_ids: dict[tuple[str, int], str] = field(default_factory=dict)
    """The queue message id of each ``AgentStep`` by (task id, step), when the coordinator made it with
    its task at hand (:func:`step_message_id`); a sender looks up the task for any step not here."""

    def __bool__(self) -> bool:
        return bool(self.tool_requests or self.agent_steps)

    def extend(self, other: Outbox) -> Outbox:
        """Add ``other``'s messages to this outbox; returns it."""
        self.tool_requests.extend(other.tool_requests)
        self.agent_steps.extend(other.agent_steps)
        self.step_message_ids.update(other.step_message_ids)
        return self

    def add_step(self, task: TaskRecord, step: AgentStep) -> Outbox:
        """Add ``step`` of ``task`` with its queue message id; returns this outbox."""
        self.agent_steps.append(step)
        self.step_message_ids[(step.task_id, step.step)] = step_message_id(task, step.step)
        return self

    def summary(self) -> dict[str, Any]:
        """A short form for logs and responses."""
        return {
            "tool_requests": [r.message_id for r in self.tool_requests],
            "agent_steps": [f"{s.task_id}#{s.step}" for s in self.agent_steps],
        }


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def step_message_id(task: TaskRecord, step: int) -> str:
    """The queue message id of ``AgentStep(step)`` of ``task``: one per task and step, so Service Bus
    duplicate detection drops the coordinator's own re-sends, and derived from the task's secret
    ``message_nonce`` (never shown), so nobody can send a message under it first and have the real
    step dropped as its duplicate."""
    return "step-" + _digest(task.task_id, task.message_nonce or "", str(step))


def request_message_id(request: ToolRequest) -> str:
    """The queue message id of ``request``: stable for the call and its reservation (re-sends are
    duplicates), and not derivable from what ``GET /api/tasks/{id}`` shows (the request id is shown,
    the reservation id is not), so a message sent first under a shown id cannot pre-empt it."""
    return "request-" + _digest(request.message_id, request.reservation_id)
