"""Durable queues in SQLite with the delivery semantics of Service Bus and SQS.

One table holds every queue of both clouds (``cloud`` + ``queue`` name a queue). A receive takes a
lock for the queue's lock/visibility window and counts the attempt, so the count a handler sees is
the platform's (Service Bus ``delivery_count``, SQS ``ApproximateReceiveCount``). A received message
is invisible until its window ends, unless it is completed, renewed (:meth:`DurableBroker.renew`, as
the Functions host renews Service Bus locks while its function runs) or explicitly released. A
failure is released at once only on queues that abandon (Service Bus: the Functions host abandons a
message its function failed on; locally it comes back after ``retry_delay_s``, so a failing function
does not spin); on SQS queues a failed message stays invisible to the end of its visibility timeout,
as under a Lambda event source mapping. A consumer that dies (``kill -9``) leaves its lock to run
out on both. At ``max_deliveries`` receives a failure is dead-lettered with its reason (SQS would move
it on the receive after its visibility ends; the outcome is the same), and a message whose last lock
ran out is dead-lettered on the next receive. A lock that outlives its window is lost: the message is
delivered again and the late completion is refused. A completed message is kept
(``state = 'completed'``) for inspection.

Every write runs in a ``BEGIN IMMEDIATE`` transaction on a per-thread connection in WAL mode, so
receives never hand one message to two workers and a killed process loses nothing that was sent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agentcage.errors import LedgerUnavailableError
from agentcage.sqlite_connections import ThreadConnections

__all__ = ["Delivery", "DurableBroker", "FailureOutcome", "QueueKey", "StoredMessage"]

Cloud = Literal["azure", "aws"]
FailureOutcome = Literal["redelivered", "dead_lettered", "lock_lost"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    cloud              TEXT NOT NULL,
    queue              TEXT NOT NULL,
    message_id         TEXT NOT NULL,
    body               TEXT NOT NULL,
    properties         TEXT NOT NULL,
    enqueued_at        REAL NOT NULL,
    visible_at         REAL NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    state              TEXT NOT NULL DEFAULT 'ready',
    lock_token         TEXT,
    first_received_at  REAL,
    finished_at        REAL,
    last_error         TEXT,
    dead_letter_reason TEXT
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (cloud, queue, state, visible_at);
"""
_SELECT_MESSAGES = (
    "SELECT seq, cloud, queue, message_id, body, properties, state, attempts, enqueued_at, "
    "last_error, dead_letter_reason FROM messages "
)


@dataclass(frozen=True, slots=True)
class QueueKey:
    """A queue of one cloud (the same logical name exists in both)."""

    cloud: Cloud
    name: str

    def __str__(self) -> str:
        return f"{self.cloud}:{self.name}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to a consumer under a lock; ``attempts`` counts this delivery."""

    seq: int
    queue: QueueKey
    message_id: str
    body: str
    properties: dict[str, Any]
    enqueued_at: float
    attempts: int
    lock_token: str
    locked_until: float
    first_received_at: float


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as stored, in any state (``ready``, ``completed``, ``dead``)."""

    seq: int
    queue: QueueKey
    message_id: str
    body: str
    properties: dict[str, Any]
    state: str
    attempts: int
    enqueued_at: float
    last_error: str | None
    dead_letter_reason: str | None


DeadLetterHook = Callable[[StoredMessage], None]


class DurableBroker:
    """The local queues of both clouds in one SQLite file.

    ``max_deliveries`` maps each queue to its delivery limit and ``lock_seconds`` to its lock/visibility
    window (from :mod:`agentcage.topology`); ``abandoning`` names the queues whose failed deliveries are
    released after ``retry_delay_s`` (default: every Service Bus queue, as
    :attr:`agentcage.topology.QueueSpec.abandons` says); ``on_dead_letter`` is called after a message is
    dead-lettered (outside the transaction).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_deliveries: Mapping[QueueKey, int],
        lock_seconds: Mapping[QueueKey, float],
        retry_delay_s: float = 0.2,
        abandoning: Collection[QueueKey] | None = None,
        busy_timeout_ms: int = 30_000,
        on_dead_letter: DeadLetterHook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.max_deliveries = dict(max_deliveries)
        self.lock_seconds = dict(lock_seconds)
        self.retry_delay_s = retry_delay_s
        self.abandoning = frozenset(
            abandoning if abandoning is not None else (q for q in self.max_deliveries if q.cloud == "azure")
        )
        self.on_dead_letter = on_dead_letter
        self._clock = clock
        self._arrivals = threading.Condition()
        # NORMAL in WAL mode: a commit survives a killed process (only a power cut may lose the last).
        self._connections = ThreadConnections(
            self.path, busy_timeout_ms=busy_timeout_ms, synchronous="NORMAL", schema=_SCHEMA
        )

    # --- connections ------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        return self._connections.get()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise LedgerUnavailableError(f"the local queue store is busy: {error}") from error
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this broker opened (any thread's)."""
        self._connections.close()

    # --- sending ----------------------------------------------------------------------------------
    def send(
        self,
        queue: QueueKey,
        body: str,
        *,
        properties: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        delay_s: float = 0.0,
    ) -> int:
        """Enqueue ``body`` on ``queue``; returns its sequence number. Unknown queues are refused."""
        if queue not in self.max_deliveries:
            raise KeyError(f"no local queue {queue}")
        now = self._clock()
        with self._write() as connection:
            cursor = connection.execute(
                "INSERT INTO messages (cloud, queue, message_id, body, properties, enqueued_at, visible_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    queue.cloud,
                    queue.name,
                    message_id or uuid.uuid4().hex,
                    body,
                    json.dumps(dict(properties or {}), default=str),
                    now,
                    now + delay_s,
                ),
            )
            seq = int(cursor.lastrowid or 0)
        self.notify()
        return seq

    def notify(self) -> None:
        """Wake the workers waiting for messages."""
        with self._arrivals:
            self._arrivals.notify_all()

    def wait_for_messages(self, timeout: float) -> None:
        """Block until a message is sent in this process or ``timeout`` passes (then poll anyway)."""
        with self._arrivals:
            self._arrivals.wait(timeout)

    # --- receiving --------------------------------------------------------------------------------
    def receive(self, queue: QueueKey, max_messages: int = 1) -> list[Delivery]:
        """Lock up to ``max_messages`` visible messages and count the attempt; dead-letter exhausted ones."""
        now = self._clock()
        limit = self.max_deliveries[queue]
        locked_until = now + self.lock_seconds[queue]
        deliveries: list[Delivery] = []
        exhausted: list[int] = []
        with self._write() as connection:
            rows = connection.execute(
                "SELECT seq, message_id, body, properties, enqueued_at, attempts, first_received_at "
                "FROM messages WHERE cloud = ? AND queue = ? AND state = 'ready' AND visible_at <= ? "
                "ORDER BY visible_at, seq LIMIT ?",
                (queue.cloud, queue.name, now, max_messages),
            ).fetchall()
            for seq, message_id, body, properties, enqueued_at, attempts, first_received in rows:
                if attempts >= limit:
                    # A lock expired after the last allowed delivery (the consumer died): no more tries.
                    connection.execute(
                        "UPDATE messages SET state = 'dead', lock_token = NULL, finished_at = ?, "
                        "dead_letter_reason = ? WHERE seq = ?",
                        (now, f"MaxDeliveryCountExceeded: delivered {attempts} times", seq),
                    )
                    exhausted.append(seq)
                    continue
                token = uuid.uuid4().hex
                connection.execute(
                    "UPDATE messages SET attempts = attempts + 1, visible_at = ?, lock_token = ?, "
                    "first_received_at = COALESCE(first_received_at, ?) WHERE seq = ?",
                    (locked_until, token, now, seq),
                )
                deliveries.append(
                    Delivery(
                        seq=seq,
                        queue=queue,
                        message_id=message_id,
                        body=body,
                        properties=json.loads(properties),
                        enqueued_at=enqueued_at,
                        attempts=attempts + 1,
                        lock_token=token,
                        locked_until=locked_until,
                        first_received_at=first_received if first_received is not None else now,
                    )
                )
        for seq in exhausted:
            self._dead_lettered(seq)
        return deliveries

    def complete(self, delivery: Delivery) -> bool:
        """Settle a delivery as done; False when its lock was lost (the message will come again)."""
        with self._write() as connection:
            cursor = connection.execute(
                "UPDATE messages SET state = 'completed', lock_token = NULL, finished_at = ? "
                "WHERE seq = ? AND lock_token = ? AND state = 'ready'",
                (self._clock(), delivery.seq, delivery.lock_token),
            )
        return cursor.rowcount == 1

    def renew(self, deliveries: Collection[Delivery]) -> int:
        """Extend the locks of deliveries still being handled by their queue's window; how many held.

        The local stand-in for the Functions host's automatic lock renewal (Service Bus) and for a
        Lambda that cannot outlive its queue's visibility timeout (SQS): a message is not handed to a
        second consumer while the first is still running it in this process.
        """
        if not deliveries:
            return 0
        now = self._clock()
        renewed = 0
        with self._write() as connection:
            for delivery in deliveries:
                cursor = connection.execute(
                    "UPDATE messages SET visible_at = ? WHERE seq = ? AND lock_token = ? AND state = 'ready'",
                    (now + self.lock_seconds[delivery.queue], delivery.seq, delivery.lock_token),
                )
                renewed += cursor.rowcount
        return renewed

    def fail(self, delivery: Delivery, error: str, *, delay_s: float | None = None) -> FailureOutcome:
        """Give a delivery back after a failure, or dead-letter it at the queue's limit.

        On an abandoning queue (Service Bus) the message is visible again after ``delay_s`` (default
        ``retry_delay_s``); on any other (SQS) it stays invisible until its visibility timeout ends, so
        a consumer that raised to stay queued (the executor within its lease) is not asked again early.
        """
        now = self._clock()
        limit = self.max_deliveries[delivery.queue]
        with self._write() as connection:
            if delivery.attempts >= limit:
                reason = (
                    f"MaxDeliveryCountExceeded: failed {delivery.attempts} deliveries; last error: {error}"
                )
                cursor = connection.execute(
                    "UPDATE messages SET state = 'dead', lock_token = NULL, finished_at = ?, last_error = ?, "
                    "dead_letter_reason = ? WHERE seq = ? AND lock_token = ? AND state = 'ready'",
                    (now, error, reason, delivery.seq, delivery.lock_token),
                )
                outcome: FailureOutcome = "dead_lettered"
            elif delivery.queue in self.abandoning:
                delay = self.retry_delay_s if delay_s is None else delay_s
                cursor = connection.execute(
                    "UPDATE messages SET visible_at = ?, lock_token = NULL, last_error = ? "
                    "WHERE seq = ? AND lock_token = ? AND state = 'ready'",
                    (now + delay, error, delivery.seq, delivery.lock_token),
                )
                outcome = "redelivered"
            else:  # the visibility timeout set (or renewed) on receive stands
                cursor = connection.execute(
                    "UPDATE messages SET lock_token = NULL, last_error = ? "
                    "WHERE seq = ? AND lock_token = ? AND state = 'ready'",
                    (error, delivery.seq, delivery.lock_token),
                )
                outcome = "redelivered"
        if cursor.rowcount != 1:
            return "lock_lost"
        if outcome == "dead_lettered":
            self._dead_lettered(delivery.seq)
        else:
            self.notify()
        return outcome

    def reclaim_abandoned_locks(self) -> int:
        """Take over the locks a process that died held (at start-up); returns how many.

        Their messages stay invisible until those locks run out, as when a consumer dies in the cloud:
        a request whose executor died mid-call must not come back inside the executor's lease. Their
        tokens are dropped and the attempts stay counted. Any window a received message waits out is
        cut to this broker's window for its queue (a run with longer windows may have set it).
        """
        now = self._clock()
        with self._write() as connection:
            reclaimed = connection.execute(
                "UPDATE messages SET lock_token = NULL WHERE state = 'ready' AND lock_token IS NOT NULL"
            ).rowcount
            for queue, window in self.lock_seconds.items():
                connection.execute(
                    "UPDATE messages SET visible_at = ? WHERE cloud = ? AND queue = ? AND state = 'ready' "
                    "AND attempts > 0 AND visible_at > ?",
                    (now + window, queue.cloud, queue.name, now + window),
                )
        return reclaimed

    def _dead_lettered(self, seq: int) -> None:
        if self.on_dead_letter is None:
            return
        message = self.message(seq)
        if message is not None:
            self.on_dead_letter(message)

    # --- inspection -------------------------------------------------------------------------------
    def message(self, seq: int) -> StoredMessage | None:
        """One stored message by sequence number."""
        rows = self._select("WHERE seq = ?", (seq,))
        return rows[0] if rows else None

    def messages(self, queue: QueueKey | None = None, *, state: str | None = None) -> list[StoredMessage]:
        """Stored messages in order of sending, optionally of one queue and/or one state."""
        clauses, parameters = [], []
        if queue is not None:
            clauses += ["cloud = ?", "queue = ?"]
            parameters += [queue.cloud, queue.name]
        if state is not None:
            clauses.append("state = ?")
            parameters.append(state)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._select(where, tuple(parameters))

    def counts(self) -> dict[str, dict[str, int]]:
        """Per queue (``cloud:name``), how many messages are ready, completed and dead."""
        rows = (
            self._connection()
            .execute("SELECT cloud, queue, state, COUNT(*) FROM messages GROUP BY cloud, queue, state")
            .fetchall()
        )
        counts: dict[str, dict[str, int]] = {
            str(key): {"ready": 0, "completed": 0, "dead": 0} for key in self.max_deliveries
        }
        for cloud, queue, state, count in rows:
            counts.setdefault(f"{cloud}:{queue}", {"ready": 0, "completed": 0, "dead": 0})[state] = count
        return counts

    def outstanding(self) -> int:
        """How many messages are not finished (ready or in flight) across every queue."""
        row = self._connection().execute("SELECT COUNT(*) FROM messages WHERE state = 'ready'").fetchone()
        return int(row[0])

    def next_visible_in(self, queue: QueueKey) -> float | None:
        """Seconds until the next message of ``queue`` becomes visible (0 if one is), None if none waits."""
        row = (
            self._connection()
            .execute(
                "SELECT MIN(visible_at) FROM messages WHERE cloud = ? AND queue = ? AND state = 'ready'",
                (queue.cloud, queue.name),
            )
            .fetchone()
        )
        if row is None or row[0] is None:
            return None
        return max(0.0, float(row[0]) - self._clock())

    def _select(self, where: str, parameters: tuple[Any, ...]) -> list[StoredMessage]:
        rows = self._connection().execute(_SELECT_MESSAGES + where + " ORDER BY seq", parameters).fetchall()
        return [
            StoredMessage(
                seq=row[0],
                queue=QueueKey(row[1], row[2]),
                message_id=row[3],
                body=row[4],
                properties=json.loads(row[5]),
                state=row[6],
                attempts=row[7],
                enqueued_at=row[8],
                last_error=row[9],
                dead_letter_reason=row[10],
            )
            for row in rows
        ]
