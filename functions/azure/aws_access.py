"""AWS clients for the coordinator without an AWS secret: Entra token -> ``AssumeRoleWithWebIdentity``.

The ledger lives in DynamoDB; the Function App reaches it as the role ``AGENTCAGE_LEDGER_ROLE_ARN``
that trusts the app's managed identity (the Entra token for the federation app ID URI). botocore does
the exchange and the refresh itself (``AssumeRoleWithWebIdentityCredentialFetcher`` behind
``DeferredRefreshableCredentials``, registered as the session's first credential provider), so
credentials are renewed shortly before they expire and never stored.
"""

from __future__ import annotations

from typing import Any

from agentcage.errors import FederationError
from agentcage.federation import entra_scope

__all__ = ["federated_client"]

_SESSION_NAME = "agentcage-coordinator"


def federated_client(
    service: str, *, role_arn: str, audience: str, credential: Any, region: str | None = None
) -> Any:
    """A boto3 client for ``service`` acting as ``role_arn`` with the managed identity's Entra token."""
    import boto3
    import botocore.session
    from botocore.credentials import (
        AssumeRoleWithWebIdentityCredentialFetcher,
        CredentialProvider,
        DeferredRefreshableCredentials,
    )

    def token() -> str:
        from azure.core.exceptions import AzureError

        try:
            return str(credential.get_token(entra_scope(audience)).token)
        except AzureError as error:
            raise FederationError(f"could not get an Entra token for {audience}: {error.message}") from error

    core = botocore.session.get_session()
    if region:
        core.set_config_variable("region", region)
    fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
        client_creator=core.create_client,
        web_identity_token_loader=token,
        role_arn=role_arn,
        extra_args={"RoleSessionName": _SESSION_NAME},
    )

    class _WebIdentityProvider(CredentialProvider):
        METHOD = "assume-role-with-web-identity"
        CANONICAL_NAME = "agentcage-entra-web-identity"

        def load(self) -> DeferredRefreshableCredentials:
            return DeferredRefreshableCredentials(method=self.METHOD, refresh_using=fetcher.fetch_credentials)

    core.get_component("credential_provider").insert_before("env", _WebIdentityProvider())
    return boto3.Session(botocore_session=core).client(service)  # type: ignore[call-overload]
