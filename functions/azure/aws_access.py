"""AWS clients for the coordinator without an AWS secret: Entra token -> ``AssumeRoleWithWebIdentity``.

The ledger lives in DynamoDB; the Function App reaches it as the role ``AGENTCAGE_LEDGER_ROLE_ARN``
that trusts the app's managed identity (the Entra token for the federation app ID URI). botocore does
the exchange and the refresh itself (``AssumeRoleWithWebIdentityCredentialFetcher`` behind
``DeferredRefreshableCredentials``, registered as the session's first credential provider), so
credentials are renewed shortly before they expire and never stored.
"""

from __future__ import annotations

from typing import Any

__all__ = ["federated_client"]

_SESSION_NAME = "agentcage-coordinator"


def federated_client(
    service: str, *, role_arn: str, audience: str, credential: Any, region: str | None = None
) -> Any:
    """A boto3 client for ``service`` acting as ``role_arn`` with the managed identity's Entra token."""
    import boto3
    import botocore.session
    from botocore.credentials import CredentialProvider

    from agentcage.federation import web_identity_credentials

    core = botocore.session.get_session()
    if region:
        core.set_config_variable("region", region)
    credentials = web_identity_credentials(
        role_arn=role_arn,
        audience=audience,
        credential=credential,
        session_name=_SESSION_NAME,
        region=region,
        client_creator=core.create_client,
    )

    class _WebIdentityProvider(CredentialProvider):
        METHOD = "assume-role-with-web-identity"
        CANONICAL_NAME = "agentcage-entra-web-identity"

        def load(self) -> Any:
            return credentials

    core.get_component("credential_provider").insert_before("env", _WebIdentityProvider())
    return boto3.Session(botocore_session=core).client(service)  # type: ignore[call-overload]
