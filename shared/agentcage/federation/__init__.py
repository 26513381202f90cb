"""Keyless cross-cloud senders: Azure -> AWS SQS and AWS -> Azure Service Bus, no stored secret either way.

:func:`web_identity_credentials` (:mod:`.web_identity`) is the one way any Azure -> AWS path gets
credentials (botocore's web-identity fetcher, with a session name and, where narrowed, a session
policy); :func:`federated_client` builds a boto3 client on them, and :class:`AwsFederatedSqsSender`
(:mod:`.to_aws`) sends tool requests as a task-named, send-only session.
:class:`ServiceBusResultSender` (:mod:`.to_azure`) sends results with an AWS-issued web identity token
as the Entra client assertion, behind the :class:`ServiceBusSender` interface (:mod:`.base`) with a
real (:mod:`.servicebus`) and a fake (:mod:`.fake`) implementation.
"""

from agentcage.federation.base import ServiceBusSender
from agentcage.federation.fake import FakeServiceBusSender, SentMessage
from agentcage.federation.servicebus import AzureServiceBusSender
from agentcage.federation.session_name import (
    MAX_SESSION_NAME,
    role_id_from_sender_id,
    role_session_name,
    session_name_from_sender_id,
    session_name_matches,
    task_id_from_session_name,
)
from agentcage.federation.to_aws import (
    AwsFederatedSqsSender,
    ClientFactory,
    queue_arn_from_url,
    session_policy,
)
from agentcage.federation.to_azure import (
    AZURE_TOKEN_EXCHANGE_AUDIENCE,
    AwsWebIdentityTokenSource,
    ServiceBusResultSender,
    result_sender_from_config,
)
from agentcage.federation.web_identity import (
    entra_scope,
    federated_client,
    frozen_credentials,
    web_identity_credentials,
)

__all__ = [
    # Azure -> AWS
    "AwsFederatedSqsSender",
    "ClientFactory",
    "session_policy",
    "queue_arn_from_url",
    "entra_scope",
    "web_identity_credentials",
    "frozen_credentials",
    "federated_client",
    # task-named role sessions
    "role_session_name",
    "task_id_from_session_name",
    "session_name_matches",
    "session_name_from_sender_id",
    "role_id_from_sender_id",
    "MAX_SESSION_NAME",
    # AWS -> Azure
    "AwsWebIdentityTokenSource",
    "ServiceBusResultSender",
    "result_sender_from_config",
    "AZURE_TOKEN_EXCHANGE_AUDIENCE",
    "ServiceBusSender",
    "AzureServiceBusSender",
    "FakeServiceBusSender",
    "SentMessage",
]
