"""AWS -> Azure without a stored secret: an AWS-issued JWT as the client assertion for Service Bus.

IAM outbound identity federation: ``sts:GetWebIdentityToken`` returns a JWT signed by the account's issuer
(``sub`` = the bridge role ARN, ``aud`` = ``api://AzureADTokenExchange``). An Entra federated identity
credential trusts exactly that issuer, subject and audience, so azure-identity's
``ClientAssertionCredential`` can exchange the JWT for an Entra token for Service Bus. The JWT is cached
until shortly before it expires (:class:`AwsWebIdentityTokenSource`). Results go out through
:class:`ServiceBusResultSender`, with the trace in the ``traceparent`` and ``Diagnostic-Id``
application properties; a failed send raises TransportError so the Lambda leaves the SQS record for
retry and, in the end, the dead-letter queue.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from agentcage.constants import (
    AZURE_CLIENT_ID_ENV,
    AZURE_TENANT_ID_ENV,
    RESULTS_SERVICEBUS_QUEUE_ENV,
    SERVICEBUS_NAMESPACE_ENV,
)
from agentcage.errors import ConfigurationError, FederationError
from agentcage.federation.base import ServiceBusSender
from agentcage.trace import TraceContext, inject_servicebus, parse_traceparent

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from agentcage.envelopes import ToolResult

__all__ = [
    "AwsWebIdentityTokenSource",
    "ServiceBusResultSender",
    "result_sender_from_config",
    "AZURE_TOKEN_EXCHANGE_AUDIENCE",
]

AZURE_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 - an audience, not a secret
"""The audience Entra expects in a federated client assertion."""


class AwsWebIdentityTokenSource:
    """``sts:GetWebIdentityToken`` for Entra, cached until ``refresh_margin_s`` before it expires.

    Call :meth:`get_token` (or the instance) wherever a JWT assertion is needed; it is what
    ``ClientAssertionCredential(func=...)`` receives. ``clock`` returns epoch seconds.
    """

    def __init__(
        self,
        sts_client: Any | None = None,
        *,
        audience: str = AZURE_TOKEN_EXCHANGE_AUDIENCE,
        signing_algorithm: str = "RS256",
        duration_seconds: int = 300,
        refresh_margin_s: float = 60.0,
        region: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 60 <= duration_seconds <= 3600:
            raise ConfigurationError("duration_seconds must be 60-3600 (the GetWebIdentityToken limits)")
        if not 0 <= refresh_margin_s < duration_seconds:
            raise ConfigurationError("refresh_margin_s must be at least 0 and below duration_seconds")
        if signing_algorithm not in ("RS256", "ES384"):
            raise ConfigurationError(f"unsupported signing algorithm {signing_algorithm!r} (RS256 or ES384)")
        if sts_client is None:
            import boto3

            # GetWebIdentityToken is not served by the global endpoint: a regional client is required.
            sts_client = boto3.client("sts", region_name=region)
        self._sts = sts_client
        self.audience = audience
        self.signing_algorithm = signing_algorithm
        self.duration_seconds = duration_seconds
        self._margin = refresh_margin_s
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def get_token(self) -> str:
        """A JWT valid for at least ``refresh_margin_s`` more seconds; raises FederationError."""
        with self._lock:
            if self._token is not None and self._clock() < self._expires_at - self._margin:
                return self._token
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                response = self._sts.get_web_identity_token(
                    Audience=[self.audience],
                    SigningAlgorithm=self.signing_algorithm,
                    DurationSeconds=self.duration_seconds,
                )
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                raise FederationError(
                    f"STS did not issue a web identity token: {code}", details={"aws_code": code}
                ) from error
            except BotoCoreError as error:
                raise FederationError(f"could not reach STS for a web identity token: {error}") from error
            token, expiration = response.get("WebIdentityToken"), response.get("Expiration")
            if not token or expiration is None:
                raise FederationError("STS answered GetWebIdentityToken without a token or its expiration")
            self._token, self._expires_at = token, expiration.timestamp()
            return token

    __call__ = get_token


class ServiceBusResultSender:
    """Sends tool results to the coordinator's Service Bus results queue with the trace carriers."""

    def __init__(
        self, sender: ServiceBusSender, *, queue: str | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        env = os.environ if environ is None else environ
        self.queue = queue or env.get(RESULTS_SERVICEBUS_QUEUE_ENV, "")
        if not self.queue:
            raise ConfigurationError(
                f"ServiceBusResultSender needs a queue (argument or {RESULTS_SERVICEBUS_QUEUE_ENV})"
            )
        self.sender = sender

    def send(
        self,
        body: str,
        *,
        message_id: str,
        trace: TraceContext | str,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """Send ``body`` (``message_id`` lets the queue drop a duplicate); raises TransportError."""
        context = parse_traceparent(trace) if isinstance(trace, str) else trace
        application_properties = inject_servicebus(context, dict(properties or {}))
        self.sender.send(self.queue, body, application_properties, message_id)

    def send_result(self, result: ToolResult) -> None:
        """Send a ``ToolResult`` envelope (its message id and traceparent travel with it)."""
        from agentcage.envelopes import dump_envelope

        self.send(
            dump_envelope(result),
            message_id=result.message_id,
            trace=result.traceparent,
            properties={"task_id": result.task_id, "tool": result.tool, "status": result.status},
        )


def result_sender_from_config(
    *,
    namespace: str | None = None,
    queue: str | None = None,
    tenant_id: str | None = None,
    client_id: str | None = None,
    token_source: AwsWebIdentityTokenSource | None = None,
    credential_factory: Callable[..., TokenCredential] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServiceBusResultSender:
    """The bridge's sender: a ``ClientAssertionCredential`` fed by the AWS web identity token.

    Settings come from the arguments, then ``AGENTCAGE_SERVICEBUS_NAMESPACE``,
    ``AGENTCAGE_RESULTS_SERVICEBUS_QUEUE``, ``AGENTCAGE_AZURE_TENANT_ID``, ``AGENTCAGE_AZURE_CLIENT_ID``.
    ``credential_factory`` defaults to ``azure.identity.ClientAssertionCredential`` and is called with
    ``tenant_id``, ``client_id`` and ``func``. Nothing connects until the first send.
    """
    env = os.environ if environ is None else environ
    settings = {
        SERVICEBUS_NAMESPACE_ENV: namespace or env.get(SERVICEBUS_NAMESPACE_ENV, ""),
        AZURE_TENANT_ID_ENV: tenant_id or env.get(AZURE_TENANT_ID_ENV, ""),
        AZURE_CLIENT_ID_ENV: client_id or env.get(AZURE_CLIENT_ID_ENV, ""),
    }
    missing = [name for name, value in settings.items() if not value]
    if missing:
        raise ConfigurationError(f"the Service Bus result sender is missing {', '.join(missing)}")
    if credential_factory is None:
        from azure.identity import ClientAssertionCredential

        credential_factory = ClientAssertionCredential
    source = token_source or AwsWebIdentityTokenSource()
    credential = credential_factory(
        tenant_id=settings[AZURE_TENANT_ID_ENV],
        client_id=settings[AZURE_CLIENT_ID_ENV],
        func=source.get_token,
    )
    from agentcage.federation.servicebus import AzureServiceBusSender

    sender = AzureServiceBusSender(settings[SERVICEBUS_NAMESPACE_ENV], credential)
    return ServiceBusResultSender(sender, queue=queue, environ=env)
