"""The AWS data plane of the local runtime: DynamoDB (moto in-process, or an endpoint) with the seed.

By default moto's ``mock_aws`` runs in this process and the data services' DynamoDB tables (domain +
Powertools idempotency) live in its memory, written through to the state directory
(:mod:`agentcage.local.dynamodb_state`): a restarted host puts them back, so what the runtime changed
(a refund issued, a volume deleted) survives the restart. With ``AWS_ENDPOINT_URL_DYNAMODB`` (for
example a ``moto_server`` on 127.0.0.1) the tables live there instead. Either way they are created
when missing and seeded without overwriting what the runtime changed (``reset_seed`` restores it).

An endpoint that cannot be used (no credentials to sign with, nothing listening, a refusal) is a
:class:`~agentcage.errors.ConfigurationError` that says what to do, not botocore's traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agentcage.errors import ConfigurationError
from agentcage.local.config import DOMAIN_TABLE, IDEMPOTENCY_TABLE
from agentcage.local.dynamodb_state import TableSnapshots

__all__ = ["LocalAws"]

_log = logging.getLogger("agentcage.local")


class LocalAws:
    """Starts moto (unless an endpoint is given), creates the tables and loads the seed data."""

    def __init__(
        self, endpoint: str | None = None, *, region: str = "us-east-1", state_path: Path | None = None
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self.state_path = state_path if endpoint is None else None
        """Where the in-process tables are kept (None: in memory only, or the endpoint keeps them)."""
        self._mock: Any = None
        self._snapshots: TableSnapshots | None = None

    def start(self, *, reset_seed: bool = False) -> int:
        """Make the tables ready; returns how many seed records were written."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._start(reset_seed=reset_seed)
        except (BotoCoreError, ClientError) as error:
            raise _endpoint_error(self.endpoint, error) from None

    def _start(self, *, reset_seed: bool) -> int:
        if self.endpoint is None:
            from moto import mock_aws

            self._mock = mock_aws()
            self._mock.start()
        from functions.aws.services.dependencies import reset_dependencies
        from functions.aws.services.repository import create_domain_table, create_idempotency_table
        from functions.aws.services.seed import load_seed_data

        reset_dependencies()  # clients made before the mock started would bypass it
        client = self.client()
        existing = set(client.list_tables().get("TableNames", []))
        if DOMAIN_TABLE not in existing:
            create_domain_table(client, DOMAIN_TABLE)
        if IDEMPOTENCY_TABLE not in existing:
            create_idempotency_table(client, IDEMPOTENCY_TABLE)
        if self.state_path is not None:
            self._snapshots = TableSnapshots(self.state_path, (DOMAIN_TABLE, IDEMPOTENCY_TABLE), self.client)
            restored = self._snapshots.restore()
            if restored:
                _log.info("DynamoDB in-process: %d items restored from %s", restored, self.state_path)
        if IDEMPOTENCY_TABLE in existing or self._snapshots is not None:
            self._release_abandoned_idempotency(client)
        written = load_seed_data(client, DOMAIN_TABLE, overwrite=reset_seed)
        if self._snapshots is not None:
            self._snapshots.watch()
            reset_dependencies()  # the services' clients must be made with the write-through hooks
            for table in (DOMAIN_TABLE, IDEMPOTENCY_TABLE):
                self._snapshots.save(table)
        _log.info("DynamoDB %s: %d seed records written", self.endpoint or "in-process (moto)", written)
        return written

    @staticmethod
    def _release_abandoned_idempotency(client: Any) -> int:
        """Delete Powertools idempotency records left ``INPROGRESS`` by a host that died mid-call.

        The data services run inside the host's process here, so a killed host leaves its in-progress
        records behind (in AWS the service's own Lambda would finish or time out and release the key);
        until they expire they would refuse the executor's recovery of that very call with 409. This
        host holds the state directory's lock, so those invocations are dead. (Two hosts with different
        state directories should not share one DynamoDB endpoint.)
        """
        released = 0
        pages = client.get_paginator("scan").paginate(
            TableName=IDEMPOTENCY_TABLE,
            FilterExpression="#status = :in_progress",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":in_progress": {"S": "INPROGRESS"}},
            ProjectionExpression="id",
        )
        for page in pages:
            for item in page.get("Items", []):
                client.delete_item(TableName=IDEMPOTENCY_TABLE, Key={"id": item["id"]})
                released += 1
        if released:
            _log.warning("released %d idempotency records a previous run left in progress", released)
        return released

    def client(self) -> Any:
        """A DynamoDB client for the local tables."""
        import boto3

        return boto3.client("dynamodb", region_name=self.region, endpoint_url=self.endpoint)

    def repository(self) -> Any:
        """The data services' repository over the local domain table."""
        from functions.aws.services.repository import DomainRepository

        return DomainRepository(self.client(), DOMAIN_TABLE)

    def stop(self) -> None:
        """Stop moto (the in-memory tables are gone)."""
        from functions.aws.services.dependencies import reset_dependencies

        reset_dependencies()
        if self._snapshots is not None:
            self._snapshots.close()
            self._snapshots = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None


def _endpoint_error(endpoint: str | None, error: Exception) -> ConfigurationError:
    """What went wrong reaching DynamoDB, and what to do about it."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    where = f"the DynamoDB endpoint {endpoint}" if endpoint else "the in-process DynamoDB (moto)"
    if isinstance(error, NoCredentialsError):
        hint = (
            "there are no AWS credentials to sign its requests with; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (any value for a moto_server) or AWS_PROFILE"
        )
    elif isinstance(error, EndpointConnectionError):
        hint = "nothing answers there; start it (e.g. `moto_server -p 5000`) or fix --dynamodb-endpoint"
    elif isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        hint = f"it refused the request ({code}); check the credentials and the endpoint"
    else:
        hint = str(error)
    return ConfigurationError(
        f"cannot use {where}: {hint}", details={"endpoint": endpoint, "cause": type(error).__name__}
    )
