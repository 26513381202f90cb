"""The domain table: one DynamoDB table (``PK``/``SK``, both strings) behind every data service.

Key schema (infra creates the same table; :func:`create_domain_table` creates it for tests and the
local runtime)::

    PK                      SK                             what
    CUSTOMER#<customer_id>  PROFILE                        Customer
    CUSTOMER#<customer_id>  ORDER#<placed_at>#<order_id>   Order (newest first = SK descending)
    ORDER#<order_id>        OWNER                          {customer_id, order_sk}: find an order by id
    REFUND#<refund_id>      META                           Refund
    VENDOR#<vendor_id>      PROFILE                        Vendor
    VOLUMES                 VOLUME#<volume_id>             Volume (one partition: listing is one Query)
    CONTROL                 VENDOR_FAILURE_MODE#<id|*>     {mode}: a vendor's simulated failure mode
    CONTROL                 VENDOR_CALLS#<vendor_id>       {calls}: calls seen in mode 404-then-503

No GSI, billing on demand. Every change that must stay consistent is conditional: a refund is one
transaction (put the refund if absent + bump the order's ``refunded_cents`` only if nobody else did
meanwhile); deleting a volume only succeeds on a live volume.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from agentcage.errors import ConflictError, NotFoundError
from functions.aws.services.models import Customer, Order, Refund, Vendor, Volume

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DomainRepository", "create_domain_table", "create_idempotency_table", "order_sort_key"]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_KEYS = ("PK", "SK")
_ANY_VENDOR = "*"


def _plain(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal; every number in this table is an integer.
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | set):
        return [_plain(item) for item in value]
    return value


def _to_item(pk: str, sk: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in {**attributes, "PK": pk, "SK": sk}.items()}


def _from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: _plain(_DESERIALIZER.deserialize(value)) for name, value in item.items() if name not in _KEYS
    }


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def order_sort_key(order: Order) -> str:
    """The order's SK under its customer: ISO dates sort chronologically as strings."""
    return f"ORDER#{order.placed_at.isoformat()}#{order.order_id}"


class DomainRepository:
    """Typed reads and conditional writes on the domain table; the services' only storage access."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    # --- low level ---------------------------------------------------------------------------------
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table_name, Key=_key(pk, sk), ConsistentRead=True)
        item = response.get("Item")
        return _from_item(item) if item else None

    def _query(self, pk: str, sk_prefix: str, *, newest_first: bool = False) -> Iterator[dict[str, Any]]:
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**arguments)
            for item in page.get("Items", []):
                yield _from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put(self, pk: str, sk: str, attributes: Mapping[str, Any], *, overwrite: bool = True) -> bool:
        """Write one item; with ``overwrite=False`` keep an existing one. True when written."""
        arguments: dict[str, Any] = {"TableName": self.table_name, "Item": _to_item(pk, sk, attributes)}
        if not overwrite:
            arguments["ConditionExpression"] = "attribute_not_exists(PK)"
        try:
            self.client.put_item(**arguments)
        except ClientError as error:
            if not overwrite and _condition_failed(error):
                return False
            raise
        return True

    # --- customers and orders ----------------------------------------------------------------------
    def get_customer(self, customer_id: str) -> Customer:
        """The customer, or :class:`NotFoundError`."""
        found = self._get(f"CUSTOMER#{customer_id}", "PROFILE")
        if found is None:
            raise NotFoundError(f"customer {customer_id} not found")
        return Customer.model_validate(found)

    def list_orders(self, customer_id: str, limit: int) -> list[Order]:
        """The customer's ``limit`` most recent orders, newest first (404 for an unknown customer)."""
        self.get_customer(customer_id)
        orders: list[Order] = []
        for item in self._query(f"CUSTOMER#{customer_id}", "ORDER#", newest_first=True):
            orders.append(Order.model_validate(item))
            if len(orders) == limit:
                break
        return orders

    def get_order(self, order_id: str) -> Order:
        """The order with this id, whoever it belongs to, or :class:`NotFoundError`."""
        owner = self._get(f"ORDER#{order_id}", "OWNER")
        found = self._get(f"CUSTOMER#{owner['customer_id']}", owner["order_sk"]) if owner else None
        if found is None:
            raise NotFoundError(f"order {order_id} not found")
        return Order.model_validate(found)

    def put_order(self, order: Order, *, overwrite: bool = True) -> bool:
        """Store an order and its by-id pointer (used by the seed loader)."""
        sort_key = order_sort_key(order)
        attributes = order.model_dump(mode="json", exclude_none=True)
        written = self.put(f"CUSTOMER#{order.customer_id}", sort_key, attributes, overwrite=overwrite)
        self.put(
            f"ORDER#{order.order_id}",
            "OWNER",
            {"customer_id": order.customer_id, "order_sk": sort_key},
            overwrite=overwrite,
        )
        return written

    # --- refunds -----------------------------------------------------------------------------------
    def get_refund(self, refund_id: str) -> Refund | None:
        """The refund with this id, if there is one."""
        found = self._get(f"REFUND#{refund_id}", "META")
        return Refund.model_validate(found) if found else None

    def record_refund(self, refund: Refund, order: Order) -> Refund:
        """Store ``refund`` and add it to ``order`` atomically; an existing refund id returns the stored one.

        ``order`` is the version the caller checked the amount against: if another refund changed it
        since, nothing is written and :class:`ConflictError` says so (the caller may retry).
        """
        refunded = order.refunded_cents + refund.amount_cents
        status = "refunded" if refunded >= order.total_cents else order.status
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _to_item(
                                f"REFUND#{refund.refund_id}", "META", refund.model_dump(mode="json")
                            ),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": _key(f"CUSTOMER#{order.customer_id}", order_sort_key(order)),
                            "UpdateExpression": "SET refunded_cents = :refunded, #status = :status",
                            "ConditionExpression": "refunded_cents = :seen",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":refunded": {"N": str(refunded)},
                                ":status": {"S": status},
                                ":seen": {"N": str(order.refunded_cents)},
                            },
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as error:
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                existing = self.get_refund(refund.refund_id)
                if existing is not None:
                    return existing
            raise ConflictError(
                f"order {order.order_id} was changed by another refund meanwhile; retry"
            ) from error
        return refund

    # --- vendors -----------------------------------------------------------------------------------
    def get_vendor(self, vendor_id: str) -> Vendor:
        """The vendor, or :class:`NotFoundError`."""
        found = self._get(f"VENDOR#{vendor_id}", "PROFILE")
        if found is None:
            raise NotFoundError(f"vendor {vendor_id} not found")
        return Vendor.model_validate(found)

    def vendor_failure_mode(self, vendor_id: str) -> str | None:
        """The failure mode set for this vendor, else the one set for all vendors, else ``None``."""
        modes = {item["vendor"]: item["mode"] for item in self._query("CONTROL", "VENDOR_FAILURE_MODE#")}
        return modes.get(vendor_id, modes.get(_ANY_VENDOR))

    def set_vendor_failure_mode(self, mode: str, vendor_id: str | None = None) -> None:
        """Set the failure mode of one vendor (or all, with ``None``) and restart its call count."""
        target = vendor_id or _ANY_VENDOR
        self.put("CONTROL", f"VENDOR_FAILURE_MODE#{target}", {"vendor": target, "mode": mode})
        for item in list(self._query("CONTROL", "VENDOR_CALLS#")):
            if vendor_id is None or item["vendor"] == vendor_id:
                self.client.delete_item(
                    TableName=self.table_name, Key=_key("CONTROL", f"VENDOR_CALLS#{item['vendor']}")
                )

    def count_vendor_call(self, vendor_id: str) -> int:
        """Count one more call to a failing vendor; returns the count including this one."""
        response = self.client.update_item(
            TableName=self.table_name,
            Key=_key("CONTROL", f"VENDOR_CALLS#{vendor_id}"),
            UpdateExpression="SET vendor = :vendor ADD calls :one",
            ExpressionAttributeValues={":vendor": {"S": vendor_id}, ":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["calls"]["N"])

    # --- volumes -----------------------------------------------------------------------------------
    def list_volumes(self, tag_key: str | None = None, tag_value: str | None = None) -> list[Volume]:
        """Live volumes, optionally only those with tag ``tag_key`` (equal to ``tag_value`` if given)."""
        volumes = [Volume.model_validate(item) for item in self._query("VOLUMES", "VOLUME#")]
        return [
            volume
            for volume in volumes
            if volume.state != "deleted"
            and (tag_key is None or tag_key in volume.tags)
            and (tag_value is None or volume.tags.get(tag_key or "") == tag_value)
        ]

    def get_volume(self, volume_id: str) -> Volume:
        """A live volume, or :class:`NotFoundError` (also once it has been deleted)."""
        found = self._get("VOLUMES", f"VOLUME#{volume_id}")
        volume = Volume.model_validate(found) if found else None
        if volume is None or volume.state == "deleted":
            raise NotFoundError(f"volume {volume_id} not found")
        return volume

    def delete_volume(self, volume_id: str) -> None:
        """Mark a live volume deleted (kept for the audit); deleting it again is :class:`NotFoundError`."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_key("VOLUMES", f"VOLUME#{volume_id}"),
                UpdateExpression="SET #state = :deleted, deleted_at = :now",
                ConditionExpression="attribute_exists(PK) AND #state <> :deleted",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":deleted": {"S": "deleted"},
                    ":now": {"S": datetime.now(UTC).isoformat()},
                },
            )
        except ClientError as error:
            if _condition_failed(error):
                raise NotFoundError(f"volume {volume_id} not found") from error
            raise


def create_domain_table(client: DynamoDBClient, name: str) -> None:
    """Create the domain table (``PK``/``SK`` strings, on demand) if it is not there; wait until active."""
    with contextlib.suppress(client.exceptions.ResourceInUseException):
        client.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def create_idempotency_table(client: DynamoDBClient, name: str) -> None:
    """Create Powertools' idempotency table (``id`` string key, TTL on ``expiration``) if absent."""
    try:
        client.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
