"""The records the ledger holds: tasks, checkpoints, reservations, approvals, audit events.

Records are immutable pydantic models; a backend stores them and hands back new copies. Times are
timezone-aware UTC datetimes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from agentcage.budget.breaker import CircuitRecord, CircuitState
from agentcage.budget.limits import BudgetLimits, Usage
from agentcage.ledger.records import LEDGER_RECORD

__all__ = [
    "ApprovalRecord",
    "ApprovalStatus",
    "AuditEvent",
    "BudgetState",
    "Checkpoint",
    "CallRecords",
    "CircuitStatus",
    "Reservation",
    "ReservationKind",
    "ReservationStatus",
    "Requester",
    "RequesterKind",
    "TaskDriver",
    "TaskRecord",
    "TaskState",
    "ToolResultRecord",
]

_FROZEN = LEDGER_RECORD  # read tolerantly: a newer writer's field must not break this reader


class TaskState(StrEnum):
    """Where a task is in its life; ``completed``, ``halted`` and ``failed`` are final."""

    PENDING = "pending"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    HALTED = "halted"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True for the states a task never leaves."""
        return self in (TaskState.COMPLETED, TaskState.HALTED, TaskState.FAILED)


RequesterKind = Literal["person", "app", "development"]
"""A signed-in person, a trusted automation (an app-only token configuration names), or the local
runtime's development principal."""


class Requester(BaseModel):
    """On whose behalf a task runs: the authenticated principal that created it, with its roles then.

    The ledger's copy is the authority (never an envelope's claim): the policy caps the agent by these
    roles, and only this requester (besides approvers and auditors) may read the task.
    """

    model_config = _FROZEN

    kind: RequesterKind
    id: str = Field(min_length=1, max_length=256)
    name: str = Field(max_length=256)
    roles: tuple[str, ...] = ()


TaskDriver = Literal["coordinator", "external"]
"""Who proposes a task's tool calls: the coordinator's own model loop, or an external agent (an MCP
client) whose every ``tools/call`` is one step of the task; an external task never calls a model."""


class TaskRecord(BaseModel):
    """One task: who runs it, on whose behalf, what was asked, its budget and where it is."""

    model_config = _FROZEN

    task_id: str
    agent_id: str
    environment: str
    state: TaskState = TaskState.PENDING
    request: str
    context: dict[str, JsonValue] = Field(default_factory=dict)
    limits: BudgetLimits
    used: Usage = Usage()
    reserved: Usage = Usage()
    traceparent: str | None = None
    message_nonce: str | None = Field(default=None, repr=False)
    """A random value made with the task and never shown: the coordinator derives its Service Bus
    message ids from it, so nobody can pre-empt them (``None`` only for tasks made before it existed)."""
    step: int = Field(default=0, ge=0)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    halt_reason: str | None = None
    final_answer: str | None = None
    error: dict[str, str] | None = None
    requester: Requester | None = None
    """Who the task runs for (``None`` only for tasks made before requesters were recorded)."""
    driver: TaskDriver = "coordinator"
    """``external``: the calls come from an MCP client (:mod:`agentcage.mcp`); absent in older records."""


class Checkpoint(BaseModel):
    """What a step saved so a redelivered step resumes instead of redoing work."""

    model_config = _FROZEN

    task_id: str
    step: int = Field(ge=0)
    data: dict[str, JsonValue]
    created_at: AwareDatetime


ReservationKind = Literal["model", "tool"]


class ReservationStatus(StrEnum):
    """``active`` holds budget; ``consumed`` is a tool call the executor claimed; the rest are final."""

    ACTIVE = "active"
    CONSUMED = "consumed"
    SETTLED = "settled"
    RELEASED = "released"
    EXPIRED = "expired"

    @property
    def holds_budget(self) -> bool:
        """True while the reserved amounts count against the task's limits."""
        return self in (ReservationStatus.ACTIVE, ReservationStatus.CONSUMED)


class Reservation(BaseModel):
    """Budget set aside before a model or tool call; settled with the actual use afterwards."""

    model_config = _FROZEN

    reservation_id: str
    task_id: str
    kind: ReservationKind
    amounts: Usage
    agent_id: str | None = None
    """The task's agent when the reservation was made (``None`` only for reservations made before it
    was recorded): the executor checks it against the task's agent and the approval's."""
    tool: str | None = None
    args_digest: str | None = None
    request_id: str | None = None
    """The message id of the ToolRequest the reservation pays for (a call the coordinator dispatches);
    the executor refuses a request carrying it under another id. ``None``: counted without the executor,
    or made before it was recorded."""
    status: ReservationStatus = ReservationStatus.ACTIVE
    created_at: AwareDatetime
    expires_at: AwareDatetime
    consumed_at: AwareDatetime | None = None
    settled_at: AwareDatetime | None = None
    actual: Usage | None = None


class ApprovalStatus(StrEnum):
    """A human decision on one tool call."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


class ApprovalRecord(BaseModel):
    """A request for a human decision, bound to one tool call's exact arguments (``args_digest``)."""

    model_config = _FROZEN

    approval_id: str
    task_id: str
    step: int = Field(ge=0)
    agent_id: str
    tool: str
    args: dict[str, JsonValue]
    args_digest: str
    reasons: list[str] = Field(default_factory=list)
    policies: list[str] = Field(default_factory=list)
    status: ApprovalStatus = ApprovalStatus.PENDING
    approver: str | None = None
    approver_roles: list[str] = Field(default_factory=list)
    comment: str | None = None
    created_at: AwareDatetime
    expires_at: AwareDatetime
    decided_at: AwareDatetime | None = None
    used_at: AwareDatetime | None = None
    policy_version: str | None = None
    """The policy set's version (:mod:`agentcage.policy.version`) the decision was taken under; an
    approval is usable only under that same set. ``None`` in records made before it was recorded."""


class AuditEvent(BaseModel):
    """One append-only audit entry; ``seq`` orders a task's events (1, 2, 3, ...)."""

    model_config = _FROZEN

    task_id: str
    seq: int = Field(ge=1)
    kind: str
    data: dict[str, JsonValue]
    trace_id: str | None = None
    step: int | None = None
    agent_id: str | None = None
    at: AwareDatetime


class ToolResultRecord(BaseModel):
    """A tool result recorded once per request id (duplicate deliveries are ignored)."""

    model_config = _FROZEN

    task_id: str
    request_id: str
    result: dict[str, JsonValue]
    recorded_at: AwareDatetime


class BudgetState(BaseModel):
    """A task's limits, what it used, what is reserved and what remains."""

    model_config = _FROZEN

    limits: BudgetLimits
    used: Usage
    reserved: Usage
    remaining: Usage

    @classmethod
    def of(cls, task: TaskRecord) -> BudgetState:
        """The budget state of ``task``."""
        return cls(
            limits=task.limits,
            used=task.used,
            reserved=task.reserved,
            remaining=task.limits.amounts().minus(task.used + task.reserved),
        )


class CircuitStatus(BaseModel):
    """A tool's circuit after an outcome was recorded; ``tripped`` is True when this outcome opened it."""

    model_config = _FROZEN

    tool: str
    state: CircuitState
    consecutive_failures: int
    opened_at: AwareDatetime | None = None
    tripped: bool = False


class CallRecords(BaseModel):
    """What one tool call is checked against, read together in ONE consistent read: its task, its
    reservation, the approval it names and its tool's circuit (``None`` for what does not exist)."""

    model_config = ConfigDict(frozen=True)

    task: TaskRecord | None
    reservation: Reservation | None
    approval: ApprovalRecord | None = None
    circuit: CircuitRecord | None = None
    audit_seq: int = 0
    """The number of the task's last audit event when read (0: none)."""
