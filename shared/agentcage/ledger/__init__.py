"""The budget ledger and state store: tasks, checkpoints, reservations, approvals, audit, circuits.

Besides its records, the ledger offers once-only claims and an outbox (:mod:`agentcage.ledger.claims`).
One interface (:class:`Ledger`) with three backends: :class:`MemoryLedger` (tests),
:class:`SQLiteLedger` (the local runtime's embedded default) and ``DynamoDBLedger`` (the cloud,
imported lazily from :mod:`agentcage.ledger.dynamodb` so boto3 stays optional). Open one with
:func:`open_ledger`.
"""

from agentcage.ledger.base import Ledger
from agentcage.ledger.claims import Claim, ClaimOutcome, ClaimScope, OutboxEntry, OutboxMessage
from agentcage.ledger.factory import BACKENDS, open_ledger
from agentcage.ledger.hooks import Clock
from agentcage.ledger.memory import MemoryLedger
from agentcage.ledger.models import (
    ApprovalRecord,
    ApprovalStatus,
    AuditEvent,
    BudgetState,
    CallRecords,
    Checkpoint,
    CircuitStatus,
    Requester,
    Reservation,
    ReservationKind,
    ReservationStatus,
    TaskRecord,
    TaskState,
    ToolResultRecord,
)
from agentcage.ledger.rules import TRANSITIONS
from agentcage.ledger.sqlite import SQLiteLedger

__all__ = [
    # the interface and its backends
    "Ledger",
    "MemoryLedger",
    "SQLiteLedger",
    "open_ledger",
    "BACKENDS",
    "Clock",
    # records
    "TaskRecord",
    "TaskState",
    "Requester",
    "TRANSITIONS",
    "Checkpoint",
    "Reservation",
    "ReservationKind",
    "ReservationStatus",
    "ApprovalRecord",
    "ApprovalStatus",
    "AuditEvent",
    "ToolResultRecord",
    "BudgetState",
    "CircuitStatus",
    "CallRecords",
    # once-only claims and the outbox
    "Claim",
    "ClaimOutcome",
    "ClaimScope",
    "OutboxEntry",
    "OutboxMessage",
]
