"""The local runtime over the built artifacts (issue 11, item 4): each cloud's functions in their own
``python -I -S`` worker with only that artifact on its path, the queues and the ledger in the host.

The artifacts are ``dist/host/`` (``AGENTCAGE_HOST_ARTIFACTS_DIR`` overrides it), built with the
project's builder when missing, as ``agentcage dev --artifacts`` does. Nothing here measures time:
every wait is a generous upper bound on a flow the checks then read from the system's state.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from agentcage.errors import TransportError
from agentcage.local import LocalConfig
from agentcage.local.artifact_host import ArtifactHost, artifacts_dir_from, ensure_host_artifacts
from agentcage.local.artifact_runtime import RestServiceBusSender
from agentcage.local.bridges import LocalStsClient
from agentcage.local.broker import DurableBroker, QueueKey
from agentcage.local.client import AgentcageClient
from agentcage.local.cloud_endpoints import ApiRequest, LocalCloudEndpoints
from agentcage.local.config import DOMAIN_TABLE, local_queue_url
from agentcage.local.demo import RETURN_REQUEST, DemoRunner
from tests.integration.local.conftest import PROJECT_ROOT, DevProcess, dev_environment

FLOW_TIMEOUT_S = 180.0  # an upper bound for a loaded 2-core machine, not a measurement


@pytest.fixture(scope="module")
def artifacts_dir() -> Path:
    folder = artifacts_dir_from(None, PROJECT_ROOT)
    ensure_host_artifacts(PROJECT_ROOT, folder)
    return folder


@pytest.fixture(scope="module")
def artifact_host(tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path) -> Iterator[ArtifactHost]:
    state = tmp_path_factory.mktemp("agentcage-artifacts")
    host = ArtifactHost(LocalConfig(state_dir=state, port=0, retry_delay_s=0.05), artifacts_dir=artifacts_dir)
    host.start()
    try:
        yield host
    finally:
        host.stop()


def test_the_return_exception_flow_runs_through_the_artifact_workers(artifact_host: ArtifactHost) -> None:
    # GIVEN the host with every function in its artifact's worker, and the seed's refunds
    served_before = {name: pool.served for name, pool in artifact_host.pools.items()}
    from functions.aws.services.seed import load_seed_data

    load_seed_data(artifact_host.aws.client(), DOMAIN_TABLE, overwrite=True)
    # WHEN the return exception is played over HTTP: lookups, the approval, the refund
    [result] = DemoRunner(artifact_host, timeout_s=FLOW_TIMEOUT_S).run(["return_exception"])
    # THEN every check holds (approval bound to its arguments, exactly one refund, one trace id) ...
    failed = [f"{c.description}: {c.detail}" for c in result.checks if not c.passed]
    assert result.passed, failed
    # ... and the work was done by the workers: the coordinator's steps and HTTP routes, the executor,
    # the data services behind the loopback API Gateway, and the bridge to Azure.
    served = {name: pool.served - served_before[name] for name, pool in artifact_host.pools.items()}
    tool_calls = 4  # listRecentOrders, getCustomer, assessReturnException, createRefund
    assert served["lambda-core"] >= tool_calls, served
    assert served["lambda-data"] >= tool_calls, served
    assert served["lambda-bridge"] >= tool_calls, served
    function_app = next(name for name, layout in artifact_host.layouts.items() if layout.is_function_app)
    assert served[function_app] >= 3 * tool_calls, served
    invocations = artifact_host.health()["invocations"]
    assert invocations["tool-executor"]["messages"] >= tool_calls


def test_every_worker_has_only_its_artifact_and_the_standard_library_on_its_path(
    artifact_host: ArtifactHost,
) -> None:
    # GIVEN the started workers (each pool started one at least)
    stdlib = Path(sys.base_prefix).resolve()
    for name, pool in artifact_host.pools.items():
        workers = pool.idle_workers
        assert workers, f"{name} has no idle worker"
        for worker in workers:
            # THEN each path entry is inside the artifact or the interpreter's own library
            outside = [
                entry
                for entry in worker.sys_path
                if not Path(entry).resolve().is_relative_to(pool.layout.root)
                and not Path(entry).resolve().is_relative_to(stdlib)
            ]
            assert not outside, f"{name} worker {worker.pid} sees {outside}"
            assert not any(Path(e).resolve().is_relative_to(PROJECT_ROOT / ".venv") for e in worker.sys_path)


def test_a_lambda_worker_cannot_import_the_local_runtime_it_does_not_ship(
    artifact_host: ArtifactHost,
) -> None:
    # WHEN the executor's worker is asked to import what only the dev checkout has
    with pytest.raises(TransportError, match=r"ModuleNotFoundError") as raised:
        artifact_host.pools["lambda-core"].request({"op": "load", "modules": ["agentcage.local"]}, 120.0)
    # THEN it is refused with the module's name, and the worker serves the next request
    assert "agentcage.local" in raised.value.message


# --- the loopback endpoints, spoken to by the real SDK clients -------------------------------------------
@pytest.fixture
def endpoints(tmp_path: Path) -> Iterator[tuple[LocalCloudEndpoints, DurableBroker]]:
    queues = {QueueKey("aws", "tool-requests"): 5, QueueKey("azure", "tool-results"): 5}
    broker = DurableBroker(
        tmp_path / "queues.db", max_deliveries=queues, lock_seconds=dict.fromkeys(queues, 30)
    )
    served = LocalCloudEndpoints(
        lambda: broker,
        lambda request: (200, {"Content-Type": "application/json"}, json.dumps(request.path).encode()),
        lambda_senders={"AKIALOCALCORE0000000": "AROA000000000000LAMBDA:lambda-core"},
    )
    served.start()
    try:
        yield served, broker
    finally:
        served.stop()
        broker.close()


def _client(
    service: str, endpoint: str, key: str = "AKIALOCALCORE0000000", token: str | None = None
) -> object:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="local-placeholder",
        aws_session_token=token,
    )


def test_sqs_send_lands_in_the_broker_with_the_signing_roles_sender_id(
    endpoints: tuple[LocalCloudEndpoints, DurableBroker],
) -> None:
    served, broker = endpoints
    settings = served.settings()
    # GIVEN a task's federated session from the local STS
    sts = _client("sts", settings["AWS_ENDPOINT_URL_STS"])
    session = sts.assume_role_with_web_identity(  # type: ignore[attr-defined]
        RoleArn="arn:aws:iam::000000000000:role/bridge",
        RoleSessionName="task-42",
        WebIdentityToken="placeholder-token",
    )["Credentials"]
    # WHEN boto3's SQS sends as that session, and as a Lambda's role
    as_task = _client(
        "sqs", settings["AWS_ENDPOINT_URL_SQS"], session["AccessKeyId"], session["SessionToken"]
    )
    as_lambda = _client("sqs", settings["AWS_ENDPOINT_URL_SQS"])
    url = local_queue_url("tool-requests")
    sent = as_task.send_message(  # type: ignore[attr-defined]
        QueueUrl=url,
        MessageBody="one",
        MessageAttributes={"traceparent": {"DataType": "String", "StringValue": "tp"}},
    )
    as_lambda.send_message(QueueUrl=url, MessageBody="two")  # type: ignore[attr-defined]
    # THEN both are on the durable queue, each with the SenderId SQS would report
    first, second = broker.receive(QueueKey("aws", "tool-requests"), 10)
    assert first.message_id == sent["MessageId"]
    assert first.properties["attributes"]["SenderId"] == f"{LocalStsClient.ROLE_ID}:task-42"
    assert first.properties["message_attributes"] == {"traceparent": "tp"}
    assert second.properties["attributes"]["SenderId"] == "AROA000000000000LAMBDA:lambda-core"
    # AND a queue that does not exist is SQS's error, not a message dropped silently
    with pytest.raises(ClientError):
        as_lambda.send_message(QueueUrl=local_queue_url("nowhere"), MessageBody="x")  # type: ignore[attr-defined]


def test_the_managed_identity_endpoint_serves_azure_identity_and_checks_its_header(
    endpoints: tuple[LocalCloudEndpoints, DurableBroker], monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ManagedIdentityCredential

    served, _ = endpoints
    settings = served.settings()
    monkeypatch.setenv("IDENTITY_ENDPOINT", settings["IDENTITY_ENDPOINT"])
    monkeypatch.setenv("IDENTITY_HEADER", settings["IDENTITY_HEADER"])
    token = ManagedIdentityCredential().get_token("api://agentcage-local/.default")
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-header")
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential().get_token("api://agentcage-local/.default")
    assert token.token
    assert token.expires_on > 0


def test_servicebus_http_send_lands_in_the_broker_with_its_properties(
    endpoints: tuple[LocalCloudEndpoints, DurableBroker],
) -> None:
    served, broker = endpoints
    sender = RestServiceBusSender(served.settings()["AGENTCAGE_LOCAL_SERVICEBUS_ENDPOINT"])
    message_id = str(uuid.uuid4())
    sender.send("tool-results", '{"a": 1}', {"traceparent": "tp", "Diagnostic-Id": "tp", "n": 3}, message_id)
    with pytest.raises(TransportError, match="no queue"):
        sender.send("nowhere", "{}", {}, "m")
    [delivered] = broker.receive(QueueKey("azure", "tool-results"), 1)
    assert delivered.message_id == message_id
    assert delivered.body == '{"a": 1}'
    assert delivered.properties == {"traceparent": "tp", "Diagnostic-Id": "tp", "n": 3}


def test_the_api_gateway_path_reaches_the_api_handler_below_the_stage(
    endpoints: tuple[LocalCloudEndpoints, DurableBroker],
) -> None:
    served, _ = endpoints
    import urllib.request

    base = served.settings()["AGENTCAGE_API_BASE_URL"]
    with urllib.request.urlopen(f"{base}/customers/C%2D1001?x=1") as response:
        assert json.loads(response.read()) == "/customers/C-1001"
    assert ApiRequest("GET", "/", {}, {}, b"", None).caller is None


# --- the command ------------------------------------------------------------------------------------------
def test_agentcage_dev_artifacts_serves_a_task_from_the_artifact_workers(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    # GIVEN `agentcage dev --artifacts` in its own process
    dev = DevProcess(
        tmp_path / "state", dev_environment(), ["--artifacts", "--artifacts-dir", str(artifacts_dir)]
    )
    try:
        client = AgentcageClient(dev.url)
        # WHEN a return exception is asked for
        started = client.start_task(RETURN_REQUEST, agent="returns-coordinator")
        task = client.wait_settled(started["task_id"], timeout_s=FLOW_TIMEOUT_S)
        health = client.health()
    finally:
        dev.stop()
    # THEN it says it runs the artifacts, and the task reached the refund's approval through them
    assert dev.info["mode"] == "artifacts"
    assert {"function-app", "lambda-core", "lambda-data", "lambda-bridge"} <= set(health["artifacts"])
    assert task["state"] == "awaiting_approval", task
    assert [a["tool"] for a in task["pending_approvals"]] == ["createRefund"]


# --- the loopback endpoints answer only requests addressed to them (DNS rebinding) ----------------------
def _raw(url: str, method: str, path: str, host: str, body: bytes = b"", **headers: str) -> tuple[int, bytes]:
    """One request with exactly this ``Host`` header, as a rebinding page's browser would send it."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        for name, value in headers.items():
            connection.putheader(name.replace("_", "-"), value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


REBINDING_REQUESTS = (
    ("POST", "/api/local/orders/O-50001/refund", b'{"amount": 1}', {}),
    ("POST", "/sts", b"Action=AssumeRoleWithWebIdentity&RoleArn=r&RoleSessionName=s&WebIdentityToken=t", {}),
    ("POST", "/servicebus/tool-results/messages", b"{}", {}),
    ("POST", "/sqs", b'{"QueueUrl": "q", "MessageBody": "x"}', {"X_Amz_Target": "AmazonSQS.SendMessage"}),
    ("GET", "/msi/token?resource=api://agentcage-local", b"", {}),
)


@pytest.mark.parametrize(("method", "path", "body", "headers"), REBINDING_REQUESTS)
def test_the_endpoints_refuse_a_request_for_another_host_with_a_structured_421(
    tmp_path: Path, method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    # GIVEN the endpoints, with an API handler and a broker that record what reaches them
    queues = {QueueKey("aws", "tool-requests"): 5, QueueKey("azure", "tool-results"): 5}
    broker = DurableBroker(
        tmp_path / "queues.db", max_deliveries=queues, lock_seconds=dict.fromkeys(queues, 30)
    )
    reached: list[ApiRequest] = []
    served = LocalCloudEndpoints(
        lambda: broker, lambda request: reached.append(request) or (200, {}, b"refunded")
    )
    served.start()
    try:
        port = served.url.rsplit(":", 1)[1]
        # WHEN a rebinding page's browser sends it, addressed to the attacker's name with the real port
        status, payload = _raw(served.url, method, path, f"evil.example:{port}", body, **headers)
        # AND a request names a loopback address with another port
        other_port, _ = _raw(served.url, method, path, "127.0.0.1:1", body, **headers)
        # THEN both are a structured 421, and nothing reached the API, the queues or STS's sessions
        assert (status, other_port) == (421, 421)
        error = json.loads(payload)["error"]
        assert error["code"] == "misdirected_request"
        assert "evil.example" in error["message"]
        assert reached == []
        assert broker.receive(QueueKey("azure", "tool-results"), 10) == []
        assert served._sessions == {}
        # AND the same request addressed to the server's own loopback names is served
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert _raw(served.url, method, path, host, body, **headers)[0] != 421
    finally:
        served.stop()
        broker.close()
