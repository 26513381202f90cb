"""Where a data service gets its storage: built on first use, never at import, reused while warm.

Precedence is the project's: an explicit argument, then the environment variable from
:mod:`agentcage.constants`, then (for optional settings) a default. The DynamoDB client follows
boto3's own configuration, so the local runtime points it elsewhere with ``AWS_ENDPOINT_URL_DYNAMODB``.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from agentcage.constants import DOMAIN_TABLE_ENV, IDEMPOTENCY_TABLE_ENV
from agentcage.errors import ConfigurationError
from functions.aws.services.repository import DomainRepository

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "domain_repository",
    "dynamodb_client",
    "idempotency_persistence",
    "repository_for",
    "required_setting",
    "reset_dependencies",
]


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    """The process's DynamoDB client, made on first call (clients are costly; warm Lambdas reuse it)."""
    import boto3

    return boto3.client("dynamodb")


def required_setting(explicit: str | None, env_name: str) -> str:
    """``explicit`` if given, else the environment variable, else :class:`ConfigurationError`."""
    value = explicit or os.environ.get(env_name)
    if not value:
        raise ConfigurationError(f"{env_name} is not set")
    return value


def domain_repository(table_name: str | None = None) -> DomainRepository:
    """The repository over the domain table named by the argument or ``AGENTCAGE_DOMAIN_TABLE``."""
    return DomainRepository(dynamodb_client(), required_setting(table_name, DOMAIN_TABLE_ENV))


def repository_for(client_or_table: Any, table_name: str | None = None) -> DomainRepository:
    """A repository from what a caller holds: a :class:`DomainRepository`, a boto3 ``Table`` resource,
    or a DynamoDB client with ``table_name`` (else ``AGENTCAGE_DOMAIN_TABLE``)."""
    if isinstance(client_or_table, DomainRepository):
        return client_or_table
    meta = getattr(client_or_table, "meta", None)
    if hasattr(client_or_table, "table_name") and meta is not None and hasattr(meta, "client"):
        # A resource's client rewrites item parameters for the resource layer, so the repository
        # (which speaks the low-level format) gets a plain client for the same region and endpoint.
        import boto3

        resource_client = meta.client.meta
        client = boto3.client(
            "dynamodb", region_name=resource_client.region_name, endpoint_url=resource_client.endpoint_url
        )
        return DomainRepository(client, table_name or client_or_table.table_name)
    return DomainRepository(client_or_table, required_setting(table_name, DOMAIN_TABLE_ENV))


@functools.cache
def _persistence_for(table_name: str) -> DynamoDBPersistenceLayer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client())


def idempotency_persistence(table_name: str | None = None) -> DynamoDBPersistenceLayer:
    """Powertools' idempotency store on the table named by the argument or ``AGENTCAGE_IDEMPOTENCY_TABLE``.

    One instance per table and process: Powertools configures a persistence layer once, on first use.
    """
    return _persistence_for(required_setting(table_name, IDEMPOTENCY_TABLE_ENV))


def reset_dependencies() -> None:
    """Forget cached clients (tests and the local runtime, after changing the AWS configuration)."""
    _persistence_for.cache_clear()
    dynamodb_client.cache_clear()
