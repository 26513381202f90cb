"""Azure -> AWS: Entra token -> AssumeRoleWithWebIdentity (task session, send-only policy) -> SQS, on moto."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from botocore.stub import Stubber
from moto import mock_aws

from agentcage.constants import BRIDGE_ROLE_ARN_ENV, FEDERATION_AUDIENCE_ENV, TOOL_REQUESTS_QUEUE_URL_ENV
from agentcage.errors import ConfigurationError, FederationError, TransportError
from agentcage.federation import AwsFederatedSqsSender, role_session_name
from agentcage.trace import TraceContext, to_xray_header

REGION = "eu-west-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/agentcage-bridge"
AUDIENCE = "api://agentcage-bridge"
CTX = TraceContext(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7")


class FakeManagedIdentity:
    """An azure-identity TokenCredential double that records the scopes it was asked for."""

    def __init__(self, *, fail: bool = False) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.fail = fail

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if self.fail:
            raise ClientAuthenticationError("IMDS unavailable")
        return AccessToken("eyJhbGciOiJSUzI1NiJ9.entra-token-for-the-bridge.sig", int(time.time()) + 3600)


class RecordingFactory:
    """A boto3 client factory that records the parameters of every AssumeRoleWithWebIdentity call."""

    def __init__(self) -> None:
        self.assumed: list[dict[str, Any]] = []
        self.clients: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, service: str, **kwargs: Any) -> Any:
        self.clients.append((service, kwargs))
        client = boto3.client(service, **kwargs)
        if service == "sts":
            client.meta.events.register(
                "provide-client-params.sts.AssumeRoleWithWebIdentity",
                lambda params, **_: self.assumed.append(dict(params)),
            )
        return client


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        admin = boto3.client(
            "sqs", region_name=REGION, aws_access_key_id="admin", aws_secret_access_key="admin"
        )
        yield admin.create_queue(QueueName="agentcage-tool-requests")["QueueUrl"]


def _sender(queue_url: str, factory: RecordingFactory, clock: Clock, **kwargs: Any) -> AwsFederatedSqsSender:
    return AwsFederatedSqsSender(
        queue_url=queue_url,
        role_arn=ROLE_ARN,
        audience=AUDIENCE,
        credential=kwargs.pop("credential", FakeManagedIdentity()),  # type: ignore[arg-type]
        client_factory=factory,
        clock=clock,
        environ={},
        **kwargs,
    )


def _receive(queue_url: str) -> list[dict[str, Any]]:
    admin = boto3.client("sqs", region_name=REGION, aws_access_key_id="admin", aws_secret_access_key="admin")
    return admin.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["AWSTraceHeader"],
    ).get("Messages", [])


def test_send_assumes_a_task_session_limited_to_send_message_and_carries_the_trace(aws: str) -> None:
    # GIVEN the bridge configured for the requests queue
    factory, credential = RecordingFactory(), FakeManagedIdentity()
    sender = _sender(aws, factory, Clock(), credential=credential)

    # WHEN a tool request of task-0b5e is sent
    message_id = sender.send("task-0b5e", '{"tool":"getCustomer"}', CTX.traceparent)

    # THEN the Entra token was asked for the app ID URI's default scope
    assert credential.scopes == [(f"{AUDIENCE}/.default",)]
    # AND STS got the role, the task as session name, the token and a send-only session policy
    (assumed,) = factory.assumed
    assert assumed["RoleArn"] == ROLE_ARN
    assert assumed["RoleSessionName"] == "task-0b5e"
    assert assumed["WebIdentityToken"].startswith("eyJhbGciOiJSUzI1NiJ9.")
    policy = json.loads(assumed["Policy"])
    assert policy["Statement"] == [
        {
            "Sid": "SendToolRequestsOnly",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": "arn:aws:sqs:eu-west-1:123456789012:agentcage-tool-requests",
        }
    ]
    # AND the SQS client ran on the temporary credentials, in the queue's region
    service, kwargs = factory.clients[-1]
    assert service == "sqs"
    assert kwargs["region_name"] == REGION
    assert kwargs["aws_session_token"]
    # AND those credentials are the task's role session
    identity = boto3.client(
        "sts", region_name=REGION, **{k: v for k, v in kwargs.items() if k.startswith("aws_")}
    )
    assert identity.get_caller_identity()["Arn"].endswith(":assumed-role/agentcage-bridge/task-0b5e")
    # AND the message arrived with both trace carriers
    (received,) = _receive(aws)
    assert received["MessageId"] == message_id
    assert received["Body"] == '{"tool":"getCustomer"}'
    assert received["MessageAttributes"]["traceparent"]["StringValue"] == CTX.traceparent
    assert received["Attributes"]["AWSTraceHeader"] == to_xray_header(CTX)


def test_credentials_are_kept_per_task_and_botocore_refreshes_them_shortly_before_expiry(aws: str) -> None:
    factory, clock = RecordingFactory(), Clock()
    sender = _sender(aws, factory, clock)

    sender.send("task-a", "1", CTX)
    sender.send("task-a", "2", CTX)
    sender.send("task-b", "3", CTX)
    clock.now += 3600 - 15 * 60 + 1  # inside botocore's 15-minute refresh window of the 1 h session
    sender.send("task-a", "4", CTX)

    assert [a["RoleSessionName"] for a in factory.assumed] == ["task-a", "task-b", "task-a"]
    assert all(a["DurationSeconds"] == 3600 for a in factory.assumed)
    assert [service for service, _ in factory.clients].count("sts") == 1  # one unsigned STS client
    assert len(_receive(aws)) == 4


def test_forget_drops_a_finished_task_and_the_cache_is_bounded(aws: str) -> None:
    factory = RecordingFactory()
    sender = _sender(aws, factory, Clock(), max_cached_tasks=2)

    for task in ("task-1", "task-2", "task-3", "task-1"):
        sender.send(task, "x", CTX)
    sender.forget("task-3")
    sender.send("task-3", "x", CTX)

    assert [a["RoleSessionName"] for a in factory.assumed] == [
        "task-1",
        "task-2",
        "task-3",
        "task-1",
        "task-3",
    ]


def test_an_odd_task_id_becomes_a_valid_reversible_session_name(aws: str) -> None:
    factory = RecordingFactory()

    _sender(aws, factory, Clock()).send("task/with spaces", "x", CTX)

    assert (
        factory.assumed[0]["RoleSessionName"]
        == role_session_name("task/with spaces")
        == "=Qtask=2Fwith=20spaces"
    )


def test_entra_failure_is_a_federation_error_and_nothing_is_sent(aws: str) -> None:
    factory = RecordingFactory()
    sender = _sender(aws, factory, Clock(), credential=FakeManagedIdentity(fail=True))

    with pytest.raises(FederationError, match="Entra token"):
        sender.send("task-a", "x", CTX)

    assert factory.assumed == []
    assert _receive(aws) == []


def _credentials() -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
            "SecretAccessKey": "x" * 40,
            "SessionToken": "session-token",
            "Expiration": datetime.now(tz=UTC) + timedelta(hours=1),
        }
    }


class StubbedFactory:
    """Builds real boto3 clients behind botocore Stubbers that ``setup(service, n, stubber)`` fills."""

    def __init__(self, setup: Callable[[str, int, Stubber], None]) -> None:
        self.setup = setup
        self.built: list[tuple[str, Stubber]] = []

    def __call__(self, service: str, **kwargs: Any) -> Any:
        client = boto3.client(service, **kwargs)
        stubber = Stubber(client)
        self.setup(service, sum(1 for s, _ in self.built if s == service), stubber)
        stubber.activate()
        self.built.append((service, stubber))
        return client


def _stubbed_sender(factory: StubbedFactory) -> AwsFederatedSqsSender:
    return AwsFederatedSqsSender(
        queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/q",
        role_arn=ROLE_ARN,
        audience=AUDIENCE,
        credential=FakeManagedIdentity(),  # type: ignore[arg-type]
        client_factory=factory,
        environ={},
    )


def test_sts_refusal_is_a_federation_error() -> None:
    def setup(service: str, index: int, stubber: Stubber) -> None:
        stubber.add_client_error("assume_role_with_web_identity", "InvalidIdentityToken", "aud mismatch", 400)

    with pytest.raises(FederationError, match="InvalidIdentityToken") as caught:
        _stubbed_sender(StubbedFactory(setup)).send("task-a", "x", CTX)

    assert caught.value.details == {"aws_code": "InvalidIdentityToken"}


def test_expired_credentials_reported_by_sqs_are_renewed_once() -> None:
    # GIVEN STS that issues sessions, and SQS that rejects the first session as expired
    def setup(service: str, index: int, stubber: Stubber) -> None:
        if service == "sts":
            stubber.add_response("assume_role_with_web_identity", _credentials())
            stubber.add_response("assume_role_with_web_identity", _credentials())
        elif index == 0:
            stubber.add_client_error("send_message", "ExpiredToken", "The security token has expired", 403)
        else:
            stubber.add_response("send_message", {"MessageId": "m-2", "MD5OfMessageBody": "x"})

    factory = StubbedFactory(setup)

    # WHEN a request is sent / THEN it goes out on a renewed session
    assert _stubbed_sender(factory).send("task-a", "x", CTX) == "m-2"
    assert [service for service, _ in factory.built] == ["sts", "sqs", "sqs"]


def test_an_sqs_refusal_is_a_transport_error_not_retried() -> None:
    def setup(service: str, index: int, stubber: Stubber) -> None:
        if service == "sts":
            stubber.add_response("assume_role_with_web_identity", _credentials())
        else:
            stubber.add_client_error("send_message", "AccessDenied", "not allowed", 403)

    factory = StubbedFactory(setup)

    with pytest.raises(TransportError, match="AccessDenied") as caught:
        _stubbed_sender(factory).send("task-a", "x", CTX)

    assert not isinstance(caught.value, FederationError)
    assert [service for service, _ in factory.built] == ["sts", "sqs"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"queue_url": ""}, "queue_url"),
        ({"role_arn": ""}, "role_arn"),
        ({"duration_seconds": 900}, "1800-43200"),
        ({"queue_url": "http://127.0.0.1:5000/q"}, "queue ARN"),
    ],
)
def test_configuration_is_checked_up_front(overrides: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {
        "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
        "role_arn": ROLE_ARN,
        "audience": AUDIENCE,
        "credential": FakeManagedIdentity(),
        "client_factory": RecordingFactory(),
        "environ": {},
    }

    with pytest.raises(ConfigurationError, match=message):
        AwsFederatedSqsSender(**{**settings, **overrides})


def test_settings_come_from_the_environment() -> None:
    env = {
        TOOL_REQUESTS_QUEUE_URL_ENV: "https://sqs.us-east-2.amazonaws.com/123456789012/requests",
        BRIDGE_ROLE_ARN_ENV: ROLE_ARN,
        FEDERATION_AUDIENCE_ENV: AUDIENCE,
    }

    sender = AwsFederatedSqsSender(
        credential=FakeManagedIdentity(), client_factory=RecordingFactory(), environ=env
    )  # type: ignore[arg-type]

    assert (sender.queue_arn, sender.region) == ("arn:aws:sqs:us-east-2:123456789012:requests", "us-east-2")
