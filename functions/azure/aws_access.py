"""AWS clients for the coordinator without an AWS secret: Entra token -> ``AssumeRoleWithWebIdentity``.

The ledger lives in DynamoDB; the Function App reaches it as the role ``AGENTCAGE_LEDGER_ROLE_ARN``
that trusts the app's managed identity (the Entra token for the federation app ID URI). The exchange
and the refresh are the library's one way (:func:`agentcage.federation.federated_client`, botocore's
web-identity fetcher); this module only names the session CloudTrail shows for the coordinator.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SESSION_NAME", "federated_client"]

SESSION_NAME = "agentcage-coordinator"


def federated_client(
    service: str, *, role_arn: str, audience: str, credential: Any, region: str | None = None
) -> Any:
    """A boto3 client for ``service`` acting as ``role_arn`` with the managed identity's Entra token."""
    from agentcage.federation import federated_client as client_for

    return client_for(
        service,
        role_arn=role_arn,
        audience=audience,
        credential=credential,
        session_name=SESSION_NAME,
        region=region,
    )
