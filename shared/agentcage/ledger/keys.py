"""The single-table key layout every backend uses (DynamoDB literally; SQLite and memory mirror it).

====================  =========================  ==========================================
PK                    SK                         item
====================  =========================  ==========================================
``TASK#<task>``       ``META``                   the task record, its counters
``TASK#<task>``       ``STEP#<n, 8 digits>``     a step checkpoint (zero-padded: sorts by n)
``TASK#<task>``       ``RES#<reservation>``      a reservation
``TASK#<task>``       ``APPROVAL#<approval>``    an approval
``TASK#<task>``       ``AUDIT#<ts>#<n>``         an audit event; n is the task's sequence number
``TASK#<task>``       ``RESULT#<request>``       a recorded tool result (idempotency)
``TASK#<task>``       ``CALL#<tool>#<digest>``   the loop counter of one tool + argument digest
``TASK#<task>``       ``CLAIM#<scope>#<key>``    a once-only claim (:mod:`agentcage.ledger.claims`)
``TASK#<task>``       ``OUTBOX#<message id>``    a message that must follow a record (the outbox)
``CIRCUIT#<tool>``    ``STATE``                  a tool's circuit (shared by all tasks)
====================  =========================  ==========================================
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "APPROVAL",
    "AUDIT",
    "CIRCUIT_SK",
    "CLAIM",
    "OUTBOX",
    "META",
    "RES",
    "RESULT",
    "STEP",
    "approval_sk",
    "audit_sk",
    "call_sk",
    "checkpoint_sk",
    "circuit_pk",
    "claim_prefix",
    "claim_sk",
    "outbox_sk",
    "reservation_sk",
    "result_sk",
    "task_pk",
]

META = "META"
STEP = "STEP#"
RES = "RES#"
APPROVAL = "APPROVAL#"
AUDIT = "AUDIT#"
RESULT = "RESULT#"
CALL = "CALL#"
CIRCUIT_SK = "STATE"
CLAIM = "CLAIM#"
OUTBOX = "OUTBOX#"


def task_pk(task_id: str) -> str:
    """The partition of a task and everything that belongs to it."""
    return f"TASK#{task_id}"


def checkpoint_sk(step: int) -> str:
    """The sort key of step ``step``'s checkpoint."""
    return f"{STEP}{step:08d}"


def reservation_sk(reservation_id: str) -> str:
    """The sort key of a reservation."""
    return f"{RES}{reservation_id}"


def approval_sk(approval_id: str) -> str:
    """The sort key of an approval."""
    return f"{APPROVAL}{approval_id}"


def audit_sk(at: datetime, seq: int) -> str:
    """The sort key of audit event ``seq``; the order of record is ``seq``, the time is for people."""
    return f"{AUDIT}{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{seq:012d}"


def result_sk(request_id: str) -> str:
    """The sort key of a recorded tool result."""
    return f"{RESULT}{request_id}"


def call_sk(tool: str, args_digest: str) -> str:
    """The sort key of a loop counter."""
    return f"{CALL}{tool}#{args_digest}"


def circuit_pk(tool: str) -> str:
    """The partition of a tool's circuit."""
    return f"CIRCUIT#{tool}"


def claim_prefix(scope: str) -> str:
    """The sort-key prefix of every claim of ``scope`` (scopes contain no ``#``)."""
    return f"{CLAIM}{scope}#"


def claim_sk(scope: str, key: str) -> str:
    """The sort key of the claim ``key`` of ``scope``."""
    return f"{claim_prefix(scope)}{key}"


def outbox_sk(message_id: str) -> str:
    """The sort key of an outbox entry."""
    return f"{OUTBOX}{message_id}"
