"""The worker runtime: built from app settings, sending with trace carriers, reaching AWS without a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agentcage.coordinator import step_message_id
from agentcage.envelopes import AgentStep, parse_envelope
from agentcage.federation import AwsFederatedSqsSender
from agentcage.ledger.dynamodb_items import create_ledger_table
from tests.functional.azure.azure_support import principal_header, sb_message
from tests.functional.azure.conftest import Harness


@dataclass
class _Token:
    token: str
    expires_on: int


class FakeEntraCredential:
    """Hands out a fixed JWT-shaped token (moto accepts any web identity token)."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: Any) -> _Token:
        self.scopes.extend(scopes)
        return _Token("eyJhbGciOiJub25lIn0.eyJzdWIiOiJtaSJ9.", 4_102_444_800)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_the_bridge_sends_to_sqs_as_the_tasks_federated_session(harness: Harness, aws: None) -> None:
    # GIVEN the real federated sender (moto STS + SQS) behind the tool-requests function
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="tool-requests")["QueueUrl"]
    credential = FakeEntraCredential()
    sender = AwsFederatedSqsSender(
        queue_url=queue_url,
        role_arn="arn:aws:iam::123456789012:role/bridge",
        audience="api://agentcage-dev",
        credential=credential,
        region="us-east-1",
        client_factory=boto3.session.Session().client,
    )
    harness.runtime.bridge_factory = lambda: sender
    started = harness.coordinator.start_task({"request": "Refund order O-50001 for customer C-1001"})
    harness.functions["run_agent_step"](sb_message(started.step.model_dump_json()))
    request_message = next(m for m in harness.sender.messages if m.queue == "tool-requests")

    # WHEN the tool-requests trigger runs
    harness.functions["bridge_to_aws"](
        sb_message(request_message.body, message_id=request_message.message_id)
    )

    # THEN the request is on SQS with the W3C and X-Ray carriers of the task's trace
    received = sqs.receive_message(
        QueueUrl=queue_url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["AWSTraceHeader"]
    )["Messages"]
    assert json.loads(received[0]["Body"]) == json.loads(request_message.body)
    trace_id = started.step.trace.trace_id
    assert received[0]["MessageAttributes"]["traceparent"]["StringValue"].split("-")[1] == trace_id
    assert received[0]["Attributes"]["AWSTraceHeader"].startswith(f"Root=1-{trace_id[:8]}-{trace_id[8:]}")
    assert credential.scopes == ["api://agentcage-dev/.default"]


def test_the_ledger_is_reached_through_the_federated_role(aws: None) -> None:
    from aws_access import federated_client

    credential = FakeEntraCredential()
    client = federated_client(
        "dynamodb",
        role_arn="arn:aws:iam::123456789012:role/ledger",
        audience="api://agentcage-dev",
        credential=credential,
        region="us-east-1",
    )
    create_ledger_table(client, "ledger")

    assert "ledger" in client.list_tables()["TableNames"]
    frozen = client._request_signer._credentials.get_frozen_credentials()
    assert frozen.access_key
    assert frozen.token
    assert credential.scopes == ["api://agentcage-dev/.default"]


def test_build_runtime_reads_the_app_settings_and_builds_no_client_until_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import runtime

    env = {
        "SERVICEBUS__fullyQualifiedNamespace": "agentcage-dev.servicebus.windows.net",
        "SERVICEBUS__credential": "managedidentity",
        "SERVICEBUS__clientId": "00000000-0000-0000-0000-0000000000aa",
        "AGENTCAGE_LEDGER_BACKEND": "sqlite",
        "AGENTCAGE_LEDGER_SQLITE_PATH": str(tmp_path / "ledger.db"),
        "AGENTCAGE_ENVIRONMENT": "dev",
        "AGENTCAGE_PUBLIC_BASE_URL": "https://coord.example/",
        "AGENTCAGE_COORDINATOR_PRINCIPAL_ID": "9d2f0c1e-0000-4000-8000-00000000c00d",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)

    built = runtime.build_runtime(env)

    assert built.sender.namespace == "agentcage-dev.servicebus.windows.net"
    assert built.coordinator.model.provider == "scripted"
    assert built.coordinator.settings.public_base_url == "https://coord.example"
    assert built.coordinator.settings.coordinator_principal_id == "9d2f0c1e-0000-4000-8000-00000000c00d"
    assert (
        built.coordinator.settings.budget.price_for("agentcage-scripted-offline").cost_micro_usd(10, 10) == 0
    )
    assert built._bridge is None  # the AWS bridge waits for the first tool request
    with pytest.raises(Exception, match="fullyQualifiedNamespace"):
        runtime.build_runtime({k: v for k, v in env.items() if not k.startswith("SERVICEBUS__fully")})


def test_dispatch_puts_the_trace_on_the_service_bus_properties(harness: Harness) -> None:
    started = harness.coordinator.start_task({"request": "x"})

    harness.runtime.dispatch(_step_outbox(started.step))

    message = harness.sender.received("agent-steps")[-1]
    # an outbox made without the task at hand (no id in it): the id still comes from the task's secret
    assert message.message_id == step_message_id(started.task, 1)
    assert (
        message.application_properties["traceparent"] == parse_envelope(AgentStep, message.body).traceparent
    )
    assert message.application_properties["Diagnostic-Id"] == message.application_properties["traceparent"]


def _step_outbox(step: AgentStep) -> Any:
    from agentcage.coordinator import Outbox

    return Outbox(agent_steps=[step])


def test_the_api_the_console_and_the_mcp_gateway_ask_the_runtimes_one_principal_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import runtime
    from blueprints.http_console import console_of

    from agentcage.mcp import McpGateway

    env = {
        "SERVICEBUS__fullyQualifiedNamespace": "agentcage-dev.servicebus.windows.net",
        "AGENTCAGE_LEDGER_BACKEND": "sqlite",
        "AGENTCAGE_LEDGER_SQLITE_PATH": str(tmp_path / "ledger.db"),
        "AGENTCAGE_ENVIRONMENT": "dev",
        "WEBSITE_AUTH_ENABLED": "True",
        "AGENTCAGE_TRUSTED_AUTOMATIONS": "app-7",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    # The process environment says otherwise: only the settings the runtime was built from count.
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED")

    built = runtime.build_runtime(env)
    source = built.principals

    assert source.platform
    assert source.trusted_apps == {"app-7"}
    assert built.http.principals is source
    assert McpGateway(lambda: built).principals is source
    person = principal_header("5f1c0000-0000-0000-0000-0000000000e1", "Rita Rep", ("service_rep",))
    console = console_of(built)
    assert console.principal_of({"x-ms-client-principal": person}).name == "Rita Rep"
