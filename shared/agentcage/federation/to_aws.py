"""Azure -> AWS without a stored secret: an Entra token, ``AssumeRoleWithWebIdentity``, then SQS.

The coordinator's managed identity gets an Entra token for the app ID URI that the AWS role trusts; STS
exchanges it for temporary credentials of a session named after the task (see
:mod:`.session_name`) and narrowed by a session policy to ``sqs:SendMessage`` on the one requests
queue; the tool request goes to SQS with the trace carriers (``traceparent`` message attribute and the
X-Ray ``AWSTraceHeader`` system attribute). The exchange and the refresh are botocore's, through
:func:`~agentcage.federation.web_identity.web_identity_credentials` (the one way every Azure -> AWS
path gets credentials); each task keeps its refreshable credentials, so a task's steps share one
session and CloudTrail shows one session per task.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agentcage.constants import BRIDGE_ROLE_ARN_ENV, FEDERATION_AUDIENCE_ENV, TOOL_REQUESTS_QUEUE_URL_ENV
from agentcage.errors import ConfigurationError, TransportError
from agentcage.federation.session_name import role_session_name
from agentcage.federation.web_identity import (
    MAX_DURATION_SECONDS,
    MIN_DURATION_SECONDS,
    frozen_credentials,
    web_identity_credentials,
)
from agentcage.trace import TraceContext, parse_traceparent, sqs_message_attributes, sqs_system_attributes

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from botocore.credentials import Credentials

__all__ = ["AwsFederatedSqsSender", "ClientFactory", "session_policy", "queue_arn_from_url"]

_log = logging.getLogger(__name__)

ClientFactory = Callable[..., Any]
"""Builds a boto3 client: ``factory(service_name, **client_kwargs)`` (``boto3.session.Session().client``)."""

_STALE_CREDENTIAL_CODES = {"ExpiredToken", "RequestExpired", "InvalidClientTokenId"}


def queue_arn_from_url(queue_url: str, region: str | None = None) -> str:
    """The ARN of an SQS queue URL (``https://sqs.<region>.amazonaws.com[.cn]/<account>/<name>``)."""
    parts = urlsplit(queue_url)
    path = [p for p in parts.path.split("/") if p]
    host = parts.hostname or ""
    labels = host.split(".")
    if len(labels) > 2 and labels[0] == "sqs":
        region = labels[1]
    if len(path) != 2 or not path[0].isdigit() or not region:
        raise ConfigurationError(f"cannot derive the queue ARN from {queue_url!r}; pass queue_arn explicitly")
    partition = "aws-cn" if host.endswith(".amazonaws.com.cn") else "aws"
    return f"arn:{partition}:sqs:{region}:{path[0]}:{path[1]}"


def session_policy(queue_arn: str) -> str:
    """The session policy: ``sqs:SendMessage`` on exactly ``queue_arn`` and nothing else."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SendToolRequestsOnly",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            }
        ],
    }
    return json.dumps(document, separators=(",", ":"))


@dataclass(slots=True)
class _Session:
    """A task's refreshable credentials and the SQS client built on their current key."""

    credentials: Credentials
    sqs: Any = None
    access_key: str | None = None


class AwsFederatedSqsSender:
    """Sends tool requests to the SQS requests queue as the task's own federated role session.

    ``credential`` is an azure-identity credential (``ManagedIdentityCredential`` in the cloud; default
    ``DefaultAzureCredential``, which uses the managed identity named by ``AZURE_CLIENT_ID``);
    ``client_factory`` builds the STS and SQS clients; ``clock`` returns epoch seconds (what the
    credentials' refresh is judged by).
    """

    def __init__(
        self,
        *,
        queue_url: str | None = None,
        role_arn: str | None = None,
        audience: str | None = None,
        credential: TokenCredential | None = None,
        queue_arn: str | None = None,
        region: str | None = None,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] = time.time,
        duration_seconds: int = 3600,
        max_cached_tasks: int = 256,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.queue_url = queue_url or env.get(TOOL_REQUESTS_QUEUE_URL_ENV, "")
        self.role_arn = role_arn or env.get(BRIDGE_ROLE_ARN_ENV, "")
        self.audience = audience or env.get(FEDERATION_AUDIENCE_ENV, "")
        for value, name in (
            (self.queue_url, "queue_url"),
            (self.role_arn, "role_arn"),
            (self.audience, "audience"),
        ):
            if not value:
                raise ConfigurationError(f"AwsFederatedSqsSender needs {name} (argument or environment)")
        if not MIN_DURATION_SECONDS <= duration_seconds <= MAX_DURATION_SECONDS:
            raise ConfigurationError(
                f"duration_seconds must be {MIN_DURATION_SECONDS}-{MAX_DURATION_SECONDS} (botocore "
                "refreshes 15 minutes before expiry; STS allows at most 12 hours)"
            )
        self.queue_arn = queue_arn or queue_arn_from_url(self.queue_url, region)
        self.region = region or self.queue_arn.split(":")[3]
        self.policy = session_policy(self.queue_arn)
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self._credential = credential
        if client_factory is None:
            import boto3

            client_factory = boto3.session.Session().client
        self._client_factory: ClientFactory = client_factory
        self._clock = clock
        self._duration = duration_seconds
        self._max_cached = max_cached_tasks
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()
        self._sts: Any = None

    def send(
        self, task_id: str, body: str, trace: TraceContext | str, *, message_id: str | None = None
    ) -> str:
        """Send ``body`` as the task's session; returns the SQS ``MessageId``.

        Raises FederationError when no credentials could be obtained and TransportError when SQS refused
        the message (credentials that SQS reports as expired are renewed once first).
        """
        context = parse_traceparent(trace) if isinstance(trace, str) else trace
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MessageBody": body,
            "MessageAttributes": sqs_message_attributes(context),
            "MessageSystemAttributes": sqs_system_attributes(context),
        }
        if self.queue_url.endswith(".fifo"):
            kwargs["MessageGroupId"] = role_session_name(task_id)
            if message_id:
                kwargs["MessageDeduplicationId"] = message_id
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in (1, 2):
            sqs = self._sqs(task_id)
            try:
                response = sqs.send_message(**kwargs)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if attempt == 1 and code in _STALE_CREDENTIAL_CODES:
                    _log.info("task %s: SQS reported %s, renewing the federated session", task_id, code)
                    self.forget(task_id)
                    continue
                raise TransportError(
                    f"SQS refused the tool request for task {task_id}: {code}", details={"aws_code": code}
                ) from error
            except BotoCoreError as error:
                raise TransportError(f"could not reach SQS for task {task_id}: {error}") from error
            return str(response["MessageId"])
        raise TransportError(f"SQS kept rejecting renewed credentials for task {task_id}")  # pragma: no cover

    def forget(self, task_id: str) -> None:
        """Drop the task's session (when the task ends, or its credentials were rejected)."""
        with self._lock:
            self._sessions.pop(task_id, None)

    def _session(self, task_id: str) -> _Session:
        with self._lock:
            session = self._sessions.get(task_id)
            if session is None:
                # Nothing is fetched yet: the credentials fetch on first use (and refresh themselves).
                session = _Session(
                    web_identity_credentials(
                        role_arn=self.role_arn,
                        audience=self.audience,
                        credential=self._credential,
                        session_name=role_session_name(task_id),
                        policy=self.policy,
                        duration_seconds=self._duration,
                        client_creator=self._sts_client,
                        clock=self._clock,
                    )
                )
                self._sessions[task_id] = session
            self._sessions.move_to_end(task_id)
            while len(self._sessions) > self._max_cached:
                self._sessions.popitem(last=False)
            return session

    def _sqs(self, task_id: str) -> Any:
        """The task's SQS client, on its credentials' current key (a new client after a refresh)."""
        session = self._session(task_id)
        current = frozen_credentials(session.credentials, role_session_name(task_id))
        with self._lock:
            if session.sqs is not None and session.access_key == current.access_key:
                return session.sqs
        sqs = self._client_factory(
            "sqs",
            region_name=self.region,
            aws_access_key_id=current.access_key,
            aws_secret_access_key=current.secret_key,
            aws_session_token=current.token,
        )
        with self._lock:
            session.sqs, session.access_key = sqs, current.access_key
        return sqs

    def _sts_client(self, service: str, **kwargs: Any) -> Any:
        """The STS client botocore's fetcher asks for (unsigned: the function has no AWS credentials),
        built once, in the queue's region."""
        with self._lock:
            if self._sts is None:
                self._sts = self._client_factory(service, region_name=self.region, **kwargs)
            return self._sts
