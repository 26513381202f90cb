"""The one way to get AWS credentials from an Azure identity: botocore's web-identity fetcher.

The coordinator has no AWS secret. Its managed identity gets an Entra token for the app ID URI an AWS
role trusts, and botocore's own :class:`~botocore.credentials.AssumeRoleWithWebIdentityCredentialFetcher`
exchanges it (an unsigned ``AssumeRoleWithWebIdentity``) for the role's temporary credentials, with a
``RoleSessionName`` (so CloudTrail and SQS ``SenderId`` name who acted) and, where the caller narrows
the role, a session policy. :class:`~botocore.credentials.DeferredRefreshableCredentials` holds them:
it fetches on first use and again shortly before they expire, so nothing is stored and no code of
ours tracks an expiry.

Every Azure -> AWS path goes through :func:`web_identity_credentials`:

- the tool-requests bridge (:class:`~agentcage.federation.to_aws.AwsFederatedSqsSender`): one task-named,
  send-only session per task;
- the coordinator's ledger client (:func:`federated_client`, ``functions/azure/aws_access.py``);
- the coordinator's target reader (``functions/azure/target_reader.py``, a SigV4 signer's credentials).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from agentcage.errors import ConfigurationError, FederationError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from botocore.credentials import Credentials, ReadOnlyCredentials

__all__ = ["entra_scope", "federated_client", "frozen_credentials", "web_identity_credentials"]

MIN_DURATION_SECONDS = 1800
"""botocore refreshes from 15 minutes before expiry: a shorter session would be re-fetched (an Entra
token and an STS call) on nearly every request."""
MAX_DURATION_SECONDS = 43200


def entra_scope(app_id_uri: str) -> str:
    """The token scope of an app ID URI (``api://...`` -> ``api://.../.default``)."""
    return app_id_uri if app_id_uri.endswith("/.default") else f"{app_id_uri.rstrip('/')}/.default"


class _NoCache(dict[str, Any]):
    """The fetcher's cache, off: the refreshable credentials keep the one copy (and judge its expiry
    with the injected clock; the fetcher's cache would judge with the wall clock)."""

    def __setitem__(self, key: str, value: Any) -> None:
        """Keeps nothing, so the fetcher never finds a cached answer."""


def web_identity_credentials(
    *,
    role_arn: str,
    audience: str,
    credential: TokenCredential,
    session_name: str,
    policy: str | None = None,
    region: str | None = None,
    duration_seconds: int = 3600,
    client_creator: Callable[..., Any] | None = None,
    clock: Callable[[], float] | None = None,
) -> Credentials:
    """Refreshable credentials of ``role_arn`` for the Entra identity behind ``credential``.

    ``audience`` is the app ID URI the role's trust policy pins (``aud``); ``session_name`` names the
    session; ``policy`` (a JSON document) narrows it. ``client_creator`` builds the STS client
    (``client_creator("sts", config=...)``, botocore's ``create_client`` by default; tests hand in a
    stubbed one); ``clock`` (epoch seconds) is what the refresh is judged by. An Entra failure
    surfaces as :class:`FederationError` when the credentials are first used.
    """
    if not role_arn or not audience or not session_name:
        raise ConfigurationError("web identity credentials need role_arn, audience and session_name")
    if not MIN_DURATION_SECONDS <= duration_seconds <= MAX_DURATION_SECONDS:
        raise ConfigurationError(
            f"duration_seconds must be {MIN_DURATION_SECONDS}-{MAX_DURATION_SECONDS}: botocore refreshes "
            "15 minutes before expiry, so a shorter session would be re-fetched on nearly every request"
        )
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
        client_creator = _botocore_session(region).create_client
    extra: dict[str, Any] = {"RoleSessionName": session_name, "DurationSeconds": duration_seconds}
    if policy is not None:
        extra["Policy"] = policy
    fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
        client_creator=client_creator,
        web_identity_token_loader=token,
        role_arn=role_arn,
        extra_args=extra,
        cache=_NoCache(),
    )
    if clock is None:
        return DeferredRefreshableCredentials(
            method="assume-role-with-web-identity", refresh_using=fetcher.fetch_credentials
        )
    tick = clock
    return DeferredRefreshableCredentials(
        method="assume-role-with-web-identity",
        refresh_using=fetcher.fetch_credentials,
        time_fetcher=lambda: datetime.fromtimestamp(tick(), tz=UTC),
    )


def frozen_credentials(credentials: Credentials, session_name: str) -> ReadOnlyCredentials:
    """The current key, secret and token (refreshed first when due); STS and Entra failures are
    :class:`FederationError`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return credentials.get_frozen_credentials()
    except ClientError as error:
        _refused(error, session_name)
    except BotoCoreError as error:
        raise FederationError(f"could not reach STS for session {session_name}: {error}") from error


def _refused(error: Any, session_name: str) -> NoReturn:
    code = error.response.get("Error", {}).get("Code", "")
    raise FederationError(
        f"STS refused the web identity of session {session_name}: {code}", details={"aws_code": code}
    ) from error


def federated_client(
    service: str,
    *,
    role_arn: str,
    audience: str,
    credential: TokenCredential,
    session_name: str,
    policy: str | None = None,
    region: str | None = None,
    duration_seconds: int = 3600,
) -> Any:
    """A boto3 client for ``service`` acting as ``role_arn`` with :func:`web_identity_credentials`.

    The credentials are the client's session's first provider, so botocore refreshes them itself.
    """
    import boto3
    from botocore.credentials import CredentialProvider

    core = _botocore_session(region)
    credentials = web_identity_credentials(
        role_arn=role_arn,
        audience=audience,
        credential=credential,
        session_name=session_name,
        policy=policy,
        region=region,
        duration_seconds=duration_seconds,
        client_creator=core.create_client,
    )

    class _WebIdentityProvider(CredentialProvider):
        METHOD = "assume-role-with-web-identity"
        CANONICAL_NAME = "agentcage-entra-web-identity"

        def load(self) -> Any:
            return credentials

    core.get_component("credential_provider").insert_before("env", _WebIdentityProvider())
    return boto3.Session(botocore_session=core).client(service)  # type: ignore[call-overload]


def _botocore_session(region: str | None) -> Any:
    import botocore.session

    core = botocore.session.get_session()
    if region:
        core.set_config_variable("region", region)
    return core
