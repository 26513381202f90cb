"""AWS credentials from the coordinator's Entra identity, refreshed by botocore, never stored.

For clients that need *credentials* rather than a boto3 client (a SigV4 signer for API Gateway, say):
botocore's own :class:`~botocore.credentials.AssumeRoleWithWebIdentityCredentialFetcher` exchanges an
Entra token for the role's temporary credentials (an unsigned ``AssumeRoleWithWebIdentity``: the
caller has no AWS credentials at all) behind :class:`~botocore.credentials.DeferredRefreshableCredentials`,
which fetches on first use and again shortly before they expire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentcage.errors import ConfigurationError, FederationError
from agentcage.federation.to_aws import entra_scope

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from botocore.credentials import Credentials

__all__ = ["web_identity_credentials"]

_MIN_DURATION_SECONDS = 1800


def web_identity_credentials(
    *,
    role_arn: str,
    audience: str,
    credential: TokenCredential,
    session_name: str,
    region: str | None = None,
    duration_seconds: int = 3600,
    client_creator: Callable[..., Any] | None = None,
) -> Credentials:
    """Refreshable credentials of ``role_arn`` for the Entra identity behind ``credential``.

    ``audience`` is the app ID URI the role's trust policy pins (``aud``); ``session_name`` names the
    session in CloudTrail. ``client_creator`` builds the STS client (``botocore`` session's
    ``create_client`` by default; tests hand in a stubbed one). An Entra failure surfaces as
    :class:`FederationError` when the credentials are first used.
    """
    if not role_arn or not audience:
        raise ConfigurationError("web identity credentials need role_arn and audience")
    # botocore refreshes refreshable credentials from 15 minutes before they expire: a session shorter
    # than ~30 minutes would be re-fetched (an Entra token and an STS call) on nearly every request.
    if not _MIN_DURATION_SECONDS <= duration_seconds <= 43200:
        raise ConfigurationError(
            f"duration_seconds must be {_MIN_DURATION_SECONDS}-43200: botocore refreshes 15 minutes "
            "before expiry, so a shorter session would be re-fetched on nearly every request"
        )
    import botocore.session
    from botocore.credentials import (
        AssumeRoleWithWebIdentityCredentialFetcher,
        DeferredRefreshableCredentials,
    )

    def token() -> str:
        from azure.core.exceptions import AzureError

        try:
            return str(credential.get_token(entra_scope(audience)).token)
        except AzureError as error:
            raise FederationError(f"could not get an Entra token for {audience}: {error.message}") from error

    if client_creator is None:
        core = botocore.session.get_session()
        if region:
            core.set_config_variable("region", region)
        client_creator = core.create_client
    fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
        client_creator=client_creator,
        web_identity_token_loader=token,
        role_arn=role_arn,
        extra_args={"RoleSessionName": session_name, "DurationSeconds": duration_seconds},
    )
    return DeferredRefreshableCredentials(
        method="assume-role-with-web-identity", refresh_using=fetcher.fetch_credentials
    )
