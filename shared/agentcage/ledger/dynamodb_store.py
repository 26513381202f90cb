"""Plumbing of the DynamoDB ledger: the client, error mapping, retries, versioned writes.

The DynamoDB ledger: the cloud backend, one table shared by the coordinator and the AWS functions.

Every check-and-change is one conditional request: ``reserve`` is a TransactWriteItems whose update
of the task's META item is conditional on every limit (per-limit ``headroom_*`` counters, the
deadline and the task state) together with a put-if-absent of the reservation; settling moves the
counters and the reservation (conditional on its ``version``) in one transaction; approvals,
reservations and circuits change only through writes conditional on the version that was read.
A lost race is retried after re-reading; a transaction conflict is retried with jittered backoff.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from agentcage.budget.breaker import BreakerSettings
from agentcage.constants import LEDGER_TABLE_ENV
from agentcage.errors import (
    ConfigurationError,
    LedgerUnavailableError,
)
from agentcage.ledger.base import Ledger
from agentcage.ledger.dynamodb_items import (
    from_item,
    to_item,
    values,
)
from agentcage.ledger.hooks import Clock
from agentcage.ledger.models import (
    TaskState,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["DynamoDBStore", "LostRaceError", "cancellation_reasons", "error_code"]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_LIVE_STATES = [TaskState.PENDING.value, TaskState.RUNNING.value, TaskState.AWAITING_APPROVAL.value]
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _did_not_answer(error: ClientError) -> bool:
    """Throttled, or a 5xx after botocore's own retries: the ledger is unavailable, not the request wrong."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(error) in _THROTTLED or status >= 500


def cancellation_reasons(error: ClientError) -> list[str]:
    return [str(r.get("Code", "None")) for r in error.response.get("CancellationReasons", [])]


class LostRaceError(Exception):
    """A conditional write lost a race: read again and retry."""


class DynamoDBStore(Ledger):
    """The table, the client and the retry discipline; ``DynamoDBLedger`` adds the hooks."""

    def __init__(
        self,
        table_name: str | None = None,
        *,
        client: DynamoDBClient | None = None,
        retention_days: int = 30,
        max_attempts: int = 25,
        breaker: BreakerSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(breaker=breaker, clock=clock)
        name = table_name or os.environ.get(LEDGER_TABLE_ENV)
        if not name:
            raise ConfigurationError(f"no ledger table: pass table_name or set {LEDGER_TABLE_ENV}")
        self.table_name = name
        self.retention = timedelta(days=retention_days)
        self.max_attempts = max_attempts
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        """The DynamoDB client (built lazily from boto3's default chain when none was injected)."""
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    # --- plumbing ---------------------------------------------------------------------------------
    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(TableName=self.table_name, **kwargs)
        except ClientError as error:
            if _did_not_answer(error):
                raise LedgerUnavailableError(f"DynamoDB did not answer {operation}: {error}") from error
            if error_code(error) == "ResourceNotFoundException":
                raise LedgerUnavailableError(f"ledger table {self.table_name} not found") from error
            raise
        except BotoCoreError as error:
            raise LedgerUnavailableError(f"DynamoDB {operation} failed: {error}") from error

    def _transact(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            next(iter(item.values()))["TableName"] = self.table_name
        try:
            self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            if _did_not_answer(error):
                raise LedgerUnavailableError(f"DynamoDB did not answer a transaction: {error}") from error
            raise
        except BotoCoreError as error:
            raise LedgerUnavailableError(f"DynamoDB transaction failed: {error}") from error

    def _attempts(self) -> Iterator[int]:
        for attempt in range(self.max_attempts):
            if attempt:
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))  # noqa: S311 - jitter, not crypto
            yield attempt
        raise LedgerUnavailableError(f"gave up after {self.max_attempts} conflicting attempts")

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._call("get_item", Key=to_item({"PK": pk, "SK": sk}), ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _get_together(self, wanted: list[tuple[str, str]]) -> list[dict[str, Any] | None]:
        """The items ``wanted`` (pk, sk) in one consistent TransactGetItems, ``None`` for a missing one;
        a conflicting transaction is retried."""
        gets = [
            {"Get": {"TableName": self.table_name, "Key": to_item({"PK": pk, "SK": sk})}} for pk, sk in wanted
        ]
        for _ in self._attempts():
            try:
                response = self.client.transact_get_items(TransactItems=gets)  # type: ignore[arg-type]
            except ClientError as error:
                if error_code(error) == "TransactionCanceledException":
                    continue  # a write transaction on one of the items: read again
                if _did_not_answer(error):
                    raise LedgerUnavailableError(f"DynamoDB did not answer a read: {error}") from error
                raise
            except BotoCoreError as error:
                raise LedgerUnavailableError(f"DynamoDB read failed: {error}") from error
            return [entry.get("Item") or None for entry in response.get("Responses", [])]
        raise AssertionError("unreachable")  # pragma: no cover - _attempts raises when exhausted

    def _query(self, pk: str, prefix: str, **kwargs: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        args = {
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": values(pk=pk, prefix=prefix),
            "ConsistentRead": True,
            **kwargs,
        }
        while True:
            response = self._call("query", **args)
            found.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response or "Limit" in kwargs:
                return found
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _scan(self, filter_expression: str, **expression_values: Any) -> list[dict[str, Any]]:
        # A scan reads the whole table: acceptable for the sweeper and the task list of a small
        # ledger; a large deployment adds a sparse GSI on due_epoch and state (see the module doc).
        found: list[dict[str, Any]] = []
        args: dict[str, Any] = {
            "FilterExpression": filter_expression,
            "ExpressionAttributeValues": values(**expression_values),
            "ConsistentRead": True,
        }
        while True:
            response = self._call("scan", **args)
            found.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _doc_item(self, pk: str, sk: str, record: BaseModel, version: int, **extra: Any) -> dict[str, Any]:
        return to_item({"PK": pk, "SK": sk, "doc": record.model_dump_json(), "version": version, **extra})

    @staticmethod
    def _doc(item: dict[str, Any], model: type[M]) -> tuple[M, int]:
        plain = from_item(item)
        return model.model_validate_json(plain["doc"]), int(plain.get("version", 0))

    def _put_versioned(self, item: dict[str, Any], version: int) -> None:
        """Write ``item`` if the stored version is still ``version`` (absent when 0); else LostRaceError."""
        if version == 0:
            condition, names, vals = "attribute_not_exists(PK)", None, None
        else:
            condition, names, vals = "#v = :v", {"#v": "version"}, values(v=version)
        kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": condition}
        if names:
            kwargs |= {"ExpressionAttributeNames": names, "ExpressionAttributeValues": vals}
        try:
            self._call("put_item", **kwargs)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise LostRaceError from None
            raise

    def _cas(
        self, load: Callable[[], tuple[M, int]], apply: Callable[[M], M], write: Callable[[M, int], None]
    ) -> M:
        for _ in self._attempts():
            record, version = load()
            changed = apply(record)
            try:
                write(changed, version)
            except LostRaceError:
                continue
            return changed
        raise AssertionError("unreachable")  # pragma: no cover - _attempts raises when exhausted

    def _expiry(self, at: datetime) -> int:
        return int((at + self.retention).timestamp())
