"""AWS -> Azure: GetWebIdentityToken (Stubber; moto lacks it) as the Entra client assertion, and sending."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from azure.core.credentials import AccessToken
from botocore.stub import Stubber

from agentcage.constants import (
    AZURE_CLIENT_ID_ENV,
    AZURE_TENANT_ID_ENV,
    RESULTS_SERVICEBUS_QUEUE_ENV,
    SERVICEBUS_NAMESPACE_ENV,
)
from agentcage.errors import ConfigurationError, FederationError, TransportError
from agentcage.federation import (
    AZURE_TOKEN_EXCHANGE_AUDIENCE,
    AwsWebIdentityTokenSource,
    AzureServiceBusSender,
    result_sender_from_config,
)

JWT = (
    "eyJraWQiOiJhd3MiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcm46YXdzOmlhbTo6MTIzNDU2Nzg5MDEyOnJvbGUvYnJpZGdlIn0.sig"
)
NOW = 1_760_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def _token_response(token: str, lifetime_s: int = 300) -> dict[str, Any]:
    return {"WebIdentityToken": token, "Expiration": datetime.fromtimestamp(NOW + lifetime_s, tz=UTC)}


EXPECTED = {"Audience": [AZURE_TOKEN_EXCHANGE_AUDIENCE], "SigningAlgorithm": "RS256", "DurationSeconds": 300}


@pytest.fixture
def sts() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_the_token_is_requested_for_entra_and_cached_until_shortly_before_expiry(
    sts: tuple[Any, Stubber],
) -> None:
    # GIVEN STS issuing 300-second tokens, and a 60-second refresh margin
    client, stubber = sts
    stubber.add_response("get_web_identity_token", _token_response(JWT), EXPECTED)
    stubber.add_response("get_web_identity_token", _token_response(JWT + "2", lifetime_s=600), EXPECTED)
    clock = Clock()
    source = AwsWebIdentityTokenSource(client, clock=clock, refresh_margin_s=60)

    # WHEN the token is asked for repeatedly as time passes
    first = source.get_token()
    clock.now += 239
    still_cached = source()
    clock.now += 2  # now within 60 s of the expiry
    renewed = source.get_token()

    # THEN STS was called only when the cached token was about to expire
    assert (first, still_cached, renewed) == (JWT, JWT, JWT + "2")


def test_sts_refusal_is_a_federation_error(sts: tuple[Any, Stubber]) -> None:
    client, stubber = sts
    stubber.add_client_error(
        "get_web_identity_token", "OutboundWebIdentityFederationDisabledException", "not enabled", 403
    )

    with pytest.raises(FederationError, match="OutboundWebIdentityFederationDisabled"):
        AwsWebIdentityTokenSource(client, clock=Clock()).get_token()


def test_a_response_without_token_is_a_federation_error(sts: tuple[Any, Stubber]) -> None:
    client, stubber = sts
    stubber.add_response("get_web_identity_token", {"Expiration": datetime.fromtimestamp(NOW, tz=UTC)})

    with pytest.raises(FederationError, match="without a token"):
        AwsWebIdentityTokenSource(client, clock=Clock()).get_token()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration_seconds": 30},
        {"duration_seconds": 7200},
        {"refresh_margin_s": 300},
        {"signing_algorithm": "HS256"},
    ],
)
def test_token_source_settings_are_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        AwsWebIdentityTokenSource(object(), **kwargs)


def test_the_credential_is_a_client_assertion_fed_by_the_aws_token(sts: tuple[Any, Stubber]) -> None:
    # GIVEN the bridge's configuration in the environment
    client, stubber = sts
    stubber.add_response("get_web_identity_token", _token_response(JWT), EXPECTED)
    made: list[dict[str, Any]] = []

    def credential_factory(**kwargs: Any) -> object:
        made.append(kwargs)
        return object()

    env = {
        SERVICEBUS_NAMESPACE_ENV: "agentcage-dev.servicebus.windows.net",
        AZURE_TENANT_ID_ENV: "00000000-0000-0000-0000-0000000000aa",
        AZURE_CLIENT_ID_ENV: "00000000-0000-0000-0000-0000000000bb",
        RESULTS_SERVICEBUS_QUEUE_ENV: "tool-results",
    }

    # WHEN the result sender is built
    sender = result_sender_from_config(
        token_source=AwsWebIdentityTokenSource(client, clock=Clock()),
        credential_factory=credential_factory,  # type: ignore[arg-type]
        environ=env,
    )

    # THEN the credential gets the tenant, the client and a function returning the AWS-issued JWT
    (kwargs,) = made
    assert kwargs["tenant_id"] == env[AZURE_TENANT_ID_ENV]
    assert kwargs["client_id"] == env[AZURE_CLIENT_ID_ENV]
    assert kwargs["func"]() == JWT
    assert sender.queue == "tool-results"
    assert isinstance(sender.sender, AzureServiceBusSender)
    assert sender.sender.namespace == "agentcage-dev.servicebus.windows.net"


def test_the_real_client_assertion_credential_is_built_by_default() -> None:
    from azure.identity import ClientAssertionCredential

    env = {
        SERVICEBUS_NAMESPACE_ENV: "agentcage-dev.servicebus.windows.net",
        AZURE_TENANT_ID_ENV: "00000000-0000-0000-0000-0000000000aa",
        AZURE_CLIENT_ID_ENV: "00000000-0000-0000-0000-0000000000bb",
        RESULTS_SERVICEBUS_QUEUE_ENV: "tool-results",
    }
    source = AwsWebIdentityTokenSource(object(), clock=Clock())

    sender = result_sender_from_config(token_source=source, environ=env)

    assert isinstance(sender.sender, AzureServiceBusSender)
    assert isinstance(sender.sender._credential, ClientAssertionCredential)


def test_missing_settings_are_named() -> None:
    with pytest.raises(ConfigurationError, match=f"{AZURE_TENANT_ID_ENV}, {AZURE_CLIENT_ID_ENV}"):
        result_sender_from_config(namespace="x.servicebus.windows.net", environ={})


class StaticCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("t", int(time.time()) + 3600)


def test_the_real_sdk_failing_to_connect_is_a_transport_error() -> None:
    # GIVEN the real azure-servicebus client pointed at a port nobody listens on
    sender = AzureServiceBusSender("localhost", StaticCredential(), retry_total=0)  # type: ignore[arg-type]

    # WHEN / THEN the failure is a TransportError (the Lambda leaves the record for retry)
    with pytest.raises(TransportError, match="could not send to Service Bus queue tool-results") as caught:
        sender.send("tool-results", "{}", {"traceparent": "x"}, "m-1")
    assert not isinstance(caught.value, FederationError)
    sender.close()


def test_a_namespace_url_instead_of_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="namespace host"):
        AzureServiceBusSender("sb://x.servicebus.windows.net", StaticCredential())  # type: ignore[arg-type]
