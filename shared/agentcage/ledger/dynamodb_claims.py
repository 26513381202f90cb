"""DynamoDB hooks for once-only claims and the outbox (:mod:`agentcage.ledger.claims`).

A claim is one conditional ``PutItem``, or, with outbox entries, one ``TransactWriteItems`` of the
claim's put-if-absent and the entries' puts, so the claim and the messages that must follow it are
written together or not at all; a lost claim costs one more read (the winner's). An entry's put is
put-if-absent (a message is keyed by its id: written again, it stays as it was, delivered or not), and
a transaction cancelled only by entries written before is retried without them. A claim carrying
audit events guards its task in the same transaction, so a missing task refuses it with nothing
written. A released claim is marked, not deleted (its put treats it as absent), so the roles need no
``DeleteItem``. An outbox entry keeps ``due_epoch`` while undelivered (what the sweeper's scan looks
for); marking it delivered is one ``UpdateItem`` that sets ``delivered_at`` (read over the stored
document) and removes ``due_epoch``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from agentcage.errors import TaskNotFoundError
from agentcage.ledger import keys
from agentcage.ledger.claims import Claim, ClaimScope, OutboxEntry, claim_not_found
from agentcage.ledger.dynamodb_items import TTL_ATTRIBUTE, from_item, to_item, values
from agentcage.ledger.dynamodb_records import DynamoDBRecordHooks
from agentcage.ledger.dynamodb_store import LostRaceError, cancellation_reasons, error_code
from agentcage.ledger.models import AuditEvent

__all__ = ["DynamoDBClaimHooks"]

_ABSENT = "attribute_not_exists(PK) OR attribute_exists(released_at)"


class DynamoDBClaimHooks(DynamoDBRecordHooks):
    """Claims and the outbox over the ledger table."""

    def _claim_item(self, claim: Claim, version: int) -> dict[str, Any]:
        extra: dict[str, Any] = {"claimant": claim.claimant, TTL_ATTRIBUTE: self._expiry(claim.claimed_at)}
        if claim.completed_at is not None:
            extra["completed_at"] = claim.completed_at.isoformat()
        pk, sk = keys.task_pk(claim.task_id), keys.claim_sk(claim.scope, claim.key)
        return self._doc_item(pk, sk, claim, version, **extra)

    def _outbox_puts(self, outbox: list[OutboxEntry]) -> list[dict[str, Any]]:
        """Each entry's put-if-absent: a message is keyed by its id, so writing it again changes nothing
        (an entry marked delivered stays delivered, as on the other backends)."""
        return [
            {
                "Put": {
                    "Item": self._doc_item(
                        keys.task_pk(entry.task_id),
                        keys.outbox_sk(entry.message_id),
                        entry,
                        1,
                        due_epoch=entry.created_at.timestamp(),
                        **{TTL_ATTRIBUTE: self._expiry(entry.created_at)},
                    ),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for entry in outbox
        ]

    def _claim_versioned(self, task_id: str, scope: ClaimScope, key: str) -> tuple[Claim, int] | None:
        item = self._get(keys.task_pk(task_id), keys.claim_sk(scope, key))
        if item is None or "released_at" in item:
            return None
        return self._doc(item, Claim)

    # --- hooks ------------------------------------------------------------------------------------
    def _insert_claim(
        self, claim: Claim, outbox: list[OutboxEntry], audit: list[AuditEvent], audit_seq: int | None
    ) -> tuple[bool, Claim]:
        if audit and audit_seq is not None:
            done = self._insert_claim_with_audit(claim, outbox, audit, audit_seq)
            if done is not None:
                return done
        won, stored = self._insert_claim_alone(claim, outbox, task_must_exist=bool(audit))
        if won:  # the events after the claim, each numbered by its own atomic counter update
            for event in audit:
                self._append_audit(claim.task_id, _renumber(event), event.at)
        return won, stored

    def _insert_claim_with_audit(
        self, claim: Claim, outbox: list[OutboxEntry], audit: list[AuditEvent], audit_seq: int
    ) -> tuple[bool, Claim] | None:
        """Claim, events and outbox in ONE transaction, the events numbered after ``audit_seq`` on the
        condition that it is still the task's last; ``None`` when it no longer is, or there is no task
        (number them apart)."""
        pk = keys.task_pk(claim.task_id)
        numbered = [e.model_copy(update={"seq": audit_seq + i}) for i, e in enumerate(audit, start=1)]
        head: list[dict[str, Any]] = [
            {"Put": {"Item": self._claim_item(claim, 1), "ConditionExpression": _ABSENT}},
            {
                "Update": {
                    "Key": to_item({"PK": pk, "SK": keys.META}),
                    "UpdateExpression": "SET audit_seq = :next",
                    "ConditionExpression": "audit_seq = :seen",
                    "ExpressionAttributeValues": values(next=audit_seq + len(audit), seen=audit_seq),
                }
            },
            *(
                {"Put": {"Item": self._doc_item(pk, keys.audit_sk(e.at, e.seq), e, 1, seq=e.seq)}}
                for e in numbered
            ),
        ]
        for _ in self._attempts():
            try:
                self._transact([*head, *self._outbox_puts(outbox)])
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                reasons = cancellation_reasons(error)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    found = self._claim_versioned(claim.task_id, claim.scope, claim.key)
                    if found is not None:
                        return False, found[0]
                    continue  # released meanwhile: again
                if reasons[1:2] == ["ConditionalCheckFailed"]:
                    return None  # another event came first (or no task): number them apart
                outbox = _not_yet_written(outbox, reasons[len(head) :])
                continue  # an entry written before (now left out), or a conflicting transaction
            return True, claim
        raise AssertionError("unreachable")  # pragma: no cover - _attempts raises when exhausted

    def _insert_claim_alone(
        self, claim: Claim, outbox: list[OutboxEntry], *, task_must_exist: bool
    ) -> tuple[bool, Claim]:
        """The claim's put-if-absent with its outbox; ``task_must_exist`` (a claim carrying events) adds
        a guard on the task in the same transaction, so a missing task refuses it with nothing written."""
        put = {"Item": self._claim_item(claim, 1), "ConditionExpression": _ABSENT}
        head: list[dict[str, Any]] = [{"Put": dict(put)}]  # a transaction names its table in each item
        if task_must_exist:  # ADD 0 changes nothing; UpdateItem, which every writer holds already
            head.append(
                {
                    "Update": {
                        "Key": to_item({"PK": keys.task_pk(claim.task_id), "SK": keys.META}),
                        "UpdateExpression": "ADD audit_seq :zero",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": values(zero=0),
                    }
                }
            )
        for _ in self._attempts():
            try:
                if len(head) > 1 or outbox:
                    self._transact([*head, *self._outbox_puts(outbox)])
                else:
                    self._call("put_item", **put)
            except ClientError as error:
                code = error_code(error)
                if code not in ("TransactionCanceledException", "ConditionalCheckFailedException"):
                    raise
                reasons = cancellation_reasons(error)
                if task_must_exist and reasons[1:2] == ["ConditionalCheckFailed"]:
                    raise TaskNotFoundError(
                        f"no task {claim.task_id!r}", details={"task_id": claim.task_id}
                    ) from None
                taken = reasons[:1] == ["ConditionalCheckFailed"]
                if code == "ConditionalCheckFailedException" or taken:
                    found = self._claim_versioned(claim.task_id, claim.scope, claim.key)
                    if found is not None:
                        return False, found[0]
                outbox = _not_yet_written(outbox, reasons[len(head) :])
                continue  # a conflicting transaction, an entry written before, or a release: again
            return True, claim
        raise AssertionError("unreachable")  # pragma: no cover - _attempts raises when exhausted

    def _load_claim(self, task_id: str, scope: ClaimScope, key: str) -> Claim | None:
        found = self._claim_versioned(task_id, scope, key)
        return found[0] if found is not None else None

    def _complete_claim(
        self,
        task_id: str,
        scope: ClaimScope,
        key: str,
        apply: Callable[[Claim], Claim | None],
        outbox: list[OutboxEntry],
    ) -> Claim:
        for _ in self._attempts():
            found = self._claim_versioned(task_id, scope, key)
            if found is None:
                raise claim_not_found(task_id, scope, key)
            claim, version = found
            changed = apply(claim)
            if changed is None:
                return claim
            item = self._claim_item(changed, version + 1)
            if not outbox:
                try:
                    self._put_versioned(item, version)
                except LostRaceError:
                    continue
                return changed
            reasons = self._transact_versioned(item, version, self._outbox_puts(outbox))
            if reasons is None:
                return changed
            outbox = _not_yet_written(outbox, reasons[1:])  # an entry written before: left out
        raise AssertionError("unreachable")  # pragma: no cover - _attempts raises when exhausted

    def _transact_versioned(
        self, item: dict[str, Any], version: int, others: list[dict[str, Any]]
    ) -> list[str] | None:
        """Put ``item`` over ``version`` with ``others`` in one transaction: ``None`` when written, else
        why each item refused it (read again and retry)."""
        put = {
            "Put": {
                "Item": item,
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": values(v=version),
            }
        }
        try:
            self._transact([put, *others])
        except ClientError as error:
            if error_code(error) == "TransactionCanceledException":
                return cancellation_reasons(error)
            raise
        return None

    def _delete_claim(self, task_id: str, scope: ClaimScope, key: str, claimant: str) -> bool:
        # Marked released rather than deleted: a claim's put treats a released one as absent, and the
        # roles need no DeleteItem for it.
        try:
            self._call(
                "update_item",
                Key=to_item({"PK": keys.task_pk(task_id), "SK": keys.claim_sk(scope, key)}),
                UpdateExpression="SET released_at = :at",
                ConditionExpression=(
                    "claimant = :claimant AND attribute_not_exists(completed_at) "
                    "AND attribute_not_exists(released_at)"
                ),
                ExpressionAttributeValues=values(claimant=claimant, at=self.now().isoformat()),
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False  # none, another's, completed or released
            raise
        return True

    def _list_claims(self, task_id: str, scope: ClaimScope) -> list[Claim]:
        items = self._query(keys.task_pk(task_id), keys.claim_prefix(scope))
        return [self._doc(item, Claim)[0] for item in items if "released_at" not in item]

    @staticmethod
    def _entry(item: dict[str, Any]) -> OutboxEntry:
        plain = from_item(item)
        entry = OutboxEntry.model_validate_json(plain["doc"])
        delivered = plain.get("delivered_at")
        if not delivered:
            return entry
        return entry.model_copy(update={"delivered_at": datetime.fromisoformat(delivered)})

    def _undelivered(self, task_id: str | None, before: datetime) -> list[OutboxEntry]:
        if task_id is None:
            items = self._scan(
                "begins_with(SK, :outbox) AND due_epoch <= :before",
                outbox=keys.OUTBOX,
                before=before.timestamp(),
            )
        else:
            # Filtered in the query: a delivered entry has no ``due_epoch``, so the sweep neither reads
            # nor parses the task's delivered messages (a filter still costs the capacity of the rows
            # it reads; a task's outbox is a handful of rows).
            pk = keys.task_pk(task_id)
            items = self._query(
                pk,
                keys.OUTBOX,
                FilterExpression="due_epoch <= :before",
                ExpressionAttributeValues=values(pk=pk, prefix=keys.OUTBOX, before=before.timestamp()),
            )
        entries = [self._entry(item) for item in items]
        return [e for e in entries if not e.delivered and e.created_at <= before]

    def _mark_delivered(self, task_id: str, message_id: str, at: datetime) -> OutboxEntry | None:
        try:
            response = self._call(
                "update_item",
                Key=to_item({"PK": keys.task_pk(task_id), "SK": keys.outbox_sk(message_id)}),
                UpdateExpression="SET delivered_at = if_not_exists(delivered_at, :at) REMOVE due_epoch",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=values(at=at.isoformat()),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return self._entry(response["Attributes"])


def _not_yet_written(outbox: list[OutboxEntry], reasons: list[str]) -> list[OutboxEntry]:
    """``outbox`` without the entries a cancelled transaction found written already (their put-if-absent
    failed; ``reasons`` are the cancellation reasons of the outbox puts, in order)."""
    return [
        entry
        for index, entry in enumerate(outbox)
        if index >= len(reasons) or reasons[index] != "ConditionalCheckFailed"
    ]


def _renumber(event: AuditEvent) -> Callable[[int, datetime], AuditEvent]:
    """``event`` under the sequence number and time the audit append assigns."""
    return lambda seq, at: event.model_copy(update={"seq": seq, "at": at})
