"""Once-only claims and the outbox: first-class ledger operations, the same on every backend.

A **claim** is a put-if-absent record named by ``(task, scope, key)``: of every caller that claims it,
exactly one wins and every other is handed the winner's claim (who, when, with what payload), in the
same request. A claim may carry a lease (``ttl_seconds``: it is *held* until ``expires_at``) and be
*completed* once by its claimant with a result. The scope says what is claimed
(:class:`ClaimScope`, the one registry of scope names); it replaces rows told apart by string
prefixes among the tool results.

An **outbox** entry is a message that must follow a record: it is written in the SAME transaction as
the claim it belongs to (a DynamoDB ``TransactWriteItems``, one SQLite transaction), so a crash between
the write and the send leaves an undelivered entry, found by :meth:`ClaimOperations.undelivered` and
sent again, never a record without its message. The sender marks an entry delivered after the send;
a message is keyed by its message id, so writing or sending it twice is harmless.

The audit log stays a record for people: no state is read back from it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, JsonValue

from agentcage.errors import ConflictError, InvalidInputError, NotFoundError
from agentcage.ledger import rules
from agentcage.ledger.hooks import LedgerHooks
from agentcage.ledger.models import AuditEvent
from agentcage.ledger.records import LEDGER_RECORD
from agentcage.ledger.validation import build

__all__ = [
    "AuditNote",
    "Claim",
    "ClaimOperations",
    "ClaimOutcome",
    "ClaimScope",
    "OutboxEntry",
    "OutboxMessage",
    "claim_not_found",
]


class ClaimScope(StrEnum):
    """What a claim is about; its key names the instance (a reservation id, a step)."""

    ANSWER = "answer"
    """The executor's answer to one tool reservation (key: the reservation id; payload: the sent
    ToolResult envelope). A reservation pays for one call, so it has one answer."""
    RECOVERY = "recovery"
    """Executing once more a call whose first attempt died (key: the reservation id; leased)."""
    ADVANCE = "advance"
    """Advancing a task past a step (key: the step number; payload: the ``AgentStep`` sent next, also
    the claim's outbox entry). Whoever wins emits the next step; the same claimant re-emits it."""
    APPROVED_REQUEST = "approved_request"
    """The one ToolRequest an approval was sent as (key: the approval id; payload: the request, also
    the claim's outbox entry)."""
    CIRCUIT_REFUSAL = "circuit_refusal"
    """The task was told once that a tool's circuit is open (key: the tool). Meeting the open circuit
    again, as another claimant, halts the task."""
    NOTIFIED = "notified"
    """People were told about an approval (key: the approval id), so a redelivered step does not
    tell them again. Claimed after the notice went out: at least once, never silently lost."""


class Claim(BaseModel):
    """A once-only claim: who won it, when, with what; held until ``expires_at`` when leased."""

    model_config = LEDGER_RECORD

    task_id: str
    scope: ClaimScope
    key: str = Field(min_length=1, max_length=512)
    claimant: str = Field(min_length=1, max_length=512)
    payload: dict[str, JsonValue] = Field(default_factory=dict)
    claimed_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    result: dict[str, JsonValue] | None = None

    @property
    def completed(self) -> bool:
        """True once its claimant completed it."""
        return self.completed_at is not None

    def age_seconds(self, now: datetime) -> float:
        """How long ago it was claimed."""
        return (now - self.claimed_at).total_seconds()

    def lapsed(self, now: datetime) -> bool:
        """True for a leased claim, not completed, whose lease ran out (its holder is presumed dead)."""
        return not self.completed and self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    """The result of :meth:`ClaimOperations.claim`: ``won`` is True for the caller that created it."""

    won: bool
    claim: Claim


@dataclass(frozen=True, slots=True)
class AuditNote:
    """An audit event to append with a won claim, in the same write (its ``seq`` is assigned then)."""

    kind: str
    data: Mapping[str, Any]
    trace_id: str | None = None
    step: int | None = None
    agent_id: str | None = None


class OutboxMessage(BaseModel):
    """A message that must follow a record: where it goes, its (stable) id, its serialized body."""

    model_config = LEDGER_RECORD

    destination: str = Field(min_length=1, max_length=128)
    message_id: str = Field(min_length=1, max_length=256)
    body: str = Field(min_length=1)


class OutboxEntry(BaseModel):
    """An outbox message as stored: undelivered until ``delivered_at`` is set."""

    model_config = LEDGER_RECORD

    task_id: str
    destination: str
    message_id: str
    body: str
    created_at: AwareDatetime
    delivered_at: AwareDatetime | None = None

    @property
    def delivered(self) -> bool:
        """True once the sender marked it sent."""
        return self.delivered_at is not None


def _validate_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 512 or any(ord(c) < 32 for c in key):
        raise InvalidInputError("a claim key is 1-512 printable characters")
    return key


def _scope(scope: ClaimScope | str) -> ClaimScope:
    try:
        return ClaimScope(scope)
    except ValueError:
        raise InvalidInputError(f"unknown claim scope {scope!r}") from None


class ClaimOperations(LedgerHooks):
    """Claims and the outbox (part of :class:`agentcage.ledger.base.Ledger`)."""

    def claim(
        self,
        task_id: str,
        scope: ClaimScope | str,
        key: str,
        *,
        claimant: str,
        payload: Mapping[str, Any] | None = None,
        ttl_seconds: float | None = None,
        outbox: Iterable[OutboxMessage] = (),
        audit: Iterable[AuditNote] = (),
        audit_seq: int | None = None,
    ) -> ClaimOutcome:
        """Claim ``(scope, key)`` of the task once: the new claim (won) or the one that exists.

        ``outbox`` messages are written in the same transaction, only when this call wins; so are the
        ``audit`` events, numbered after the task's last one. ``audit_seq`` is that number as the caller
        last read it (:meth:`~agentcage.ledger.base.Ledger.call_records`, or its own last append): a
        backend that cannot number events inside a transaction (DynamoDB) then writes everything in
        one request when it is still right, and otherwise the events after the claim. A lost claim
        writes no event: the caller appends what it still wants recorded. Without events, the task
        names the claim's partition only (the caller has verified it); a claim carrying events needs
        its task, and a missing one is a TaskNotFoundError with nothing written. An ``outbox`` message
        whose id the task's outbox holds already is left as it was (delivered stays delivered).
        """
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise InvalidInputError("ttl_seconds must be positive")
        now = self.now()
        claim = build(
            Claim,
            task_id=rules.validate_task_id(task_id),
            scope=_scope(scope),
            key=_validate_key(key),
            claimant=claimant,
            payload=dict(payload or {}),
            claimed_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds) if ttl_seconds is not None else None,
        )
        events = [
            build(
                AuditEvent,
                task_id=claim.task_id,
                seq=1,
                kind=note.kind,
                data=dict(note.data),
                trace_id=note.trace_id,
                step=note.step,
                agent_id=note.agent_id,
                at=now,
            )
            for note in audit
        ]
        if any(not event.kind for event in events):
            raise InvalidInputError("an audit event has a kind")
        won, winner = self._insert_claim(
            claim, self._outbox_entries(claim.task_id, outbox, now), events, audit_seq
        )
        return ClaimOutcome(won=won, claim=winner)

    def get_claim(self, task_id: str, scope: ClaimScope | str, key: str) -> Claim | None:
        """The claim of ``(scope, key)`` in the task, or ``None`` when nobody claimed it."""
        return self._load_claim(rules.validate_task_id(task_id), _scope(scope), _validate_key(key))

    def complete_claim(
        self,
        task_id: str,
        scope: ClaimScope | str,
        key: str,
        *,
        claimant: str,
        result: Mapping[str, Any],
        outbox: Iterable[OutboxMessage] = (),
    ) -> Claim:
        """Complete the claim ``claimant`` holds with ``result`` (and write ``outbox`` with it).

        Completing it again as the same claimant returns the completed claim unchanged and writes
        nothing; a claim held by another is a ConflictError, a missing one a NotFoundError.
        """
        task_id, chosen = rules.validate_task_id(task_id), _scope(scope)
        now = self.now()
        done = dict(result)

        def apply(claim: Claim) -> Claim | None:
            if claim.claimant != claimant:
                raise ConflictError(
                    f"claim {chosen.value} {key!r} is held by {claim.claimant!r}, not {claimant!r}",
                    details={"scope": chosen.value, "key": key, "claimant": claim.claimant},
                )
            if claim.completed:
                return None  # completed before: nothing to write
            return claim.model_copy(update={"completed_at": now, "result": done})

        return self._complete_claim(
            task_id, chosen, _validate_key(key), apply, self._outbox_entries(task_id, outbox, now)
        )

    def release_claim(self, task_id: str, scope: ClaimScope | str, key: str, *, claimant: str) -> bool:
        """Give up a claim ``claimant`` holds and has not completed; True if it was released."""
        return self._delete_claim(
            rules.validate_task_id(task_id), _scope(scope), _validate_key(key), claimant
        )

    def claims(self, task_id: str, scope: ClaimScope | str) -> list[Claim]:
        """The task's claims of ``scope``, oldest first."""
        found = self._list_claims(rules.validate_task_id(task_id), _scope(scope))
        return sorted(found, key=lambda c: (c.claimed_at, c.key))

    # --- the outbox -------------------------------------------------------------------------------
    def undelivered(
        self,
        *,
        task_id: str | None = None,
        older_than_seconds: float = 0,
        limit: int = 100,
    ) -> list[OutboxEntry]:
        """Outbox entries not marked delivered, written at least ``older_than_seconds`` ago, oldest first."""
        if limit < 1:
            raise InvalidInputError("limit must be at least 1")
        before = self.now() - timedelta(seconds=max(0.0, older_than_seconds))
        found = self._undelivered(rules.validate_task_id(task_id) if task_id else None, before)
        return sorted(found, key=lambda e: (e.created_at, e.message_id))[:limit]

    def mark_delivered(self, task_id: str, message_id: str) -> OutboxEntry:
        """Mark an outbox entry sent (idempotent); a NotFoundError when there is none."""
        found = self._mark_delivered(rules.validate_task_id(task_id), message_id, self.now())
        if found is None:
            raise NotFoundError(
                f"no outbox entry {message_id!r} in task {task_id}",
                details={"task_id": task_id, "message_id": message_id},
            )
        return found

    @staticmethod
    def _outbox_entries(task_id: str, outbox: Iterable[OutboxMessage], now: datetime) -> list[OutboxEntry]:
        return [
            build(
                OutboxEntry,
                task_id=task_id,
                destination=message.destination,
                message_id=message.message_id,
                body=message.body,
                created_at=now,
            )
            for message in outbox
        ]

    # --- hooks ------------------------------------------------------------------------------------
    @abstractmethod
    def _insert_claim(
        self, claim: Claim, outbox: list[OutboxEntry], audit: list[AuditEvent], audit_seq: int | None
    ) -> tuple[bool, Claim]:
        """Put ``claim`` (and ``outbox``, and ``audit`` renumbered after the task's last event) if no
        claim of its key exists: (True, it), else (False, the one stored, and nothing else written)."""

    @abstractmethod
    def _load_claim(self, task_id: str, scope: ClaimScope, key: str) -> Claim | None: ...

    @abstractmethod
    def _complete_claim(
        self,
        task_id: str,
        scope: ClaimScope,
        key: str,
        apply: Callable[[Claim], Claim | None],
        outbox: list[OutboxEntry],
    ) -> Claim:
        """Read the claim (NotFoundError if none), ``apply`` it (None: unchanged), write it and ``outbox``."""

    @abstractmethod
    def _delete_claim(self, task_id: str, scope: ClaimScope, key: str, claimant: str) -> bool: ...

    @abstractmethod
    def _list_claims(self, task_id: str, scope: ClaimScope) -> list[Claim]: ...

    @abstractmethod
    def _undelivered(self, task_id: str | None, before: datetime) -> list[OutboxEntry]: ...

    @abstractmethod
    def _mark_delivered(self, task_id: str, message_id: str, at: datetime) -> OutboxEntry | None: ...


def claim_not_found(task_id: str, scope: ClaimScope, key: str) -> NotFoundError:
    """The error of completing a claim nobody made."""
    return NotFoundError(
        f"no {scope.value} claim {key!r} in task {task_id}",
        details={"task_id": task_id, "scope": scope.value, "key": key},
    )
