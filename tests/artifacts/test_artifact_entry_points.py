"""Each artifact's entry points complete their first real use in isolation (issue 11, item 3).

For every host artifact (``dist/host/<name>/``), a worker runs in ``python -I -S`` with only that
artifact on ``sys.path`` and the settings the cloud would give the function, pointed at moto_server
and loopback fakes (:mod:`entry_points.cloud_settings`). Each entry point handles one valid and one
malformed event, and the test checks the outcome a user would see: the partial-batch response, the
result on the queue, the HTTP status and error body. A module the artifact does not carry fails
the test with its name.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from agentcage.budget import BreakerSettings, BudgetLimits, Usage
from agentcage.envelopes import ToolResult, parse_envelope
from agentcage.ledger.dynamodb import DynamoDBLedger
from agentcage.ledger.dynamodb_items import create_ledger_table
from agentcage.ledger.testing import dynamodb_client, moto_server
from functions.aws.manifest import lambda_spec
from tests.artifacts.artifact_support import ARTIFACT_NAMES, HostArtifact, host_artifact
from tests.artifacts.entry_points.cloud_settings import (
    ACCOUNT_ID,
    REGION,
    STAGE,
    aws_lambda_settings,
    budget_file,
    function_app_settings,
)
from tests.artifacts.entry_points.isolated_run import WorkerReport, run_worker
from tests.artifacts.entry_points.loopback_fakes import (
    FakeApiGateway,
    FakeEntra,
    FakeManagedIdentity,
    FakeWebIdentitySts,
    self_signed_certificate,
    serving,
)

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[1] / "events"
TASK_ID = "task-returns-0001"  # the fixtures' task; its SenderId session names it
COORDINATOR_PRINCIPAL_ID = "0f4b1b8e-0000-4000-8000-00000000c0de"
TENANT_ID = "72f988bf-0000-4000-8000-0000000000aa"
BRIDGE_CLIENT_ID = "5c3a1f7e-0000-4000-8000-0000000000bb"
BREAKER = BreakerSettings(failure_threshold=3, cooldown_seconds=60, probe_timeout_seconds=30)


# --- the world the artifacts are pointed at -----------------------------------------------------------
@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def budget(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return budget_file(tmp_path_factory.mktemp("config"))


@pytest.fixture(scope="module")
def api_gateway() -> Iterator[FakeApiGateway]:
    with serving(FakeApiGateway(STAGE)) as fake:
        yield fake  # type: ignore[misc]


class AwsWorld:
    """One stack's AWS resources in moto_server: the ledger table and the results queue."""

    def __init__(self, endpoint: str, suffix: str) -> None:
        self.endpoint = endpoint
        self.ledger_table = f"agentcage-{STAGE}-ledger-{suffix}"
        client = dynamodb_client(endpoint)
        create_ledger_table(client, self.ledger_table)
        self.dynamodb = client
        self.sqs = boto3.client(
            "sqs", region_name=REGION, endpoint_url=endpoint,
            aws_access_key_id="moto", aws_secret_access_key="moto",
        )  # fmt: skip
        self.results_queue_url = self.sqs.create_queue(QueueName=f"agentcage-{STAGE}-tool-results-{suffix}")[
            "QueueUrl"
        ]

    def ledger(self, *, clock: Any = None) -> DynamoDBLedger:
        return DynamoDBLedger(self.ledger_table, client=self.dynamodb, breaker=BREAKER, clock=clock)

    def running_task(self, task_id: str = TASK_ID) -> None:
        ledger = self.ledger()
        ledger.create_task(
            task_id=task_id,
            agent_id="returns-coordinator",
            environment=STAGE,
            request="artifact entry-point test",
            limits=BudgetLimits(
                tokens=100_000,
                cost_micro_usd=1_000_000,
                model_steps=20,
                tool_calls=50,
                deadline=datetime.now(UTC) + timedelta(hours=1),
            ),
            traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        ledger.transition(task_id, "running")

    def live_request(self, record: dict[str, Any]) -> dict[str, Any]:
        """The fixture record made live: a reservation for it and fresh issue/expiry times."""
        body = json.loads(record["body"])
        reservation = self.ledger().reserve(
            body["task_id"],
            Usage(tool_calls=1),
            kind="tool",
            tool=body["tool"],
            args_digest=body["args_digest"],
            agent_id=body["agent_id"],
        )
        body |= {
            "reservation_id": reservation.reservation_id,
            "issued_at": reservation.created_at.isoformat(),
            "expires_at": reservation.expires_at.isoformat(),  # a request outlives no reservation
        }
        live = copy.deepcopy(record)
        live["body"] = json.dumps(body, separators=(",", ":"))
        return live

    def results(self) -> list[ToolResult]:
        """Every ToolResult on the results queue now."""
        found: list[ToolResult] = []
        while messages := self.sqs.receive_message(
            QueueUrl=self.results_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            for message in messages:
                found.append(parse_envelope(ToolResult, message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.results_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return found


@pytest.fixture
def aws(moto_endpoint: str) -> AwsWorld:
    return AwsWorld(moto_endpoint, uuid.uuid4().hex[:8])


def sqs_records(name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))[
        "Records"
    ]
    return records


def invoke_lambda(
    function: str,
    events: list[dict[str, Any]],
    *,
    world: AwsWorld,
    budget: Path,
    tmp_path: Path,
    **values: str,
) -> tuple[list[dict[str, Any]], WorkerReport]:
    """Invoke Lambda ``function``'s handler from its artifact once per event; what each returned."""
    spec = lambda_spec(function)
    artifact = artifact_shipping(spec.handler)
    environment = aws_lambda_settings(
        function,
        root=artifact.root,
        budget=budget,
        moto_endpoint=world.endpoint,
        values={
            "ledger_table": world.ledger_table,
            "results_queue_url": world.results_queue_url,
            "coordinator_principal_id": COORDINATOR_PRINCIPAL_ID,
            **values,
        },
    )
    report = run_worker(
        artifact.name,
        artifact.sys_path,
        "lambda_handler",
        {"handler": spec.handler, "function": function, "events": events},
        environment,
        cwd=tmp_path,
    )
    outcomes: list[dict[str, Any]] = report.answer["outcomes"]
    for outcome in outcomes:
        assert "raised" not in outcome, f"{function} raised: {outcome['raised']}\n{report.details()}"
    return [outcome["returned"] for outcome in outcomes], report


def artifact_shipping(handler: str) -> HostArtifact:
    """The host artifact whose manifest lists ``handler`` among its entry points (exactly one does)."""
    [artifact] = [
        host_artifact(name)
        for name in ARTIFACT_NAMES
        if handler in host_artifact(name).manifest["entry_points"]
    ]
    return artifact


# --- lambda-core -------------------------------------------------------------------------------------------
def test_tool_executor_answers_a_valid_request_and_fails_only_the_malformed_record(
    aws: AwsWorld, api_gateway: FakeApiGateway, budget: Path, tmp_path: Path
) -> None:
    # GIVEN a running task with a reservation for the fixture's getCustomer request, and a record
    # that is not even JSON
    aws.running_task()
    valid = aws.live_request(sqs_records("sqs_tool_requests_returns")[0])
    malformed = sqs_records("sqs_tool_requests_malformed")[0]
    # WHEN the tool executor's artifact handles both in one batch
    [response], report = invoke_lambda(
        "tool-executor",
        [{"Records": [valid, malformed]}],
        world=aws,
        budget=budget,
        tmp_path=tmp_path,
        api_base_url=api_gateway.base_url,
    )
    # THEN only the malformed record is left on the queue, and the valid one was answered ok after a
    # SigV4-signed call to the API
    assert response == {"batchItemFailures": [{"itemIdentifier": malformed["messageId"]}]}, report.details()
    results = aws.results()
    assert [(r.request_id, r.status) for r in results] == [(json.loads(valid["body"])["message_id"], "ok")], (
        f"{[r.error for r in results]}\n{report.details()}"
    )
    assert results[0].result["customer_id"] == "C-1001"
    [call] = [r for r in api_gateway.requests if r.path == f"/{STAGE}/customers/C-1001"]
    assert call.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIAARTIFACTTEST/")


def test_dead_letters_answers_a_dead_lettered_request_and_only_logs_an_unattributable_one(
    aws: AwsWorld, budget: Path, tmp_path: Path
) -> None:
    # GIVEN a dead-lettered request of a running task, and a dead letter that names no task
    aws.running_task()
    request = aws.live_request(sqs_records("sqs_tool_requests_returns")[1])
    dlq_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:agentcage-{STAGE}-tool-requests-dlq"
    request["eventSourceARN"] = dlq_arn
    nameless = copy.deepcopy(sqs_records("sqs_tool_requests_malformed")[0]) | {"eventSourceARN": dlq_arn}
    # WHEN the dead-letters Lambda's artifact drains them
    [response], report = invoke_lambda(
        "dead-letters", [{"Records": [request, nameless]}], world=aws, budget=budget, tmp_path=tmp_path
    )
    # THEN the request is answered dead_lettered on the results queue; the nameless one is logged,
    # counted and completed (nothing the ledger vouches for: it answers nothing and ends no task)
    assert response == {"batchItemFailures": []}, report.details()
    [answer] = aws.results()
    assert answer.request_id == json.loads(request["body"])["message_id"]
    assert (answer.status, answer.error.code if answer.error else None) == ("error", "dead_lettered")


def test_ledger_sweeper_returns_an_abandoned_reservation(aws: AwsWorld, budget: Path, tmp_path: Path) -> None:
    # GIVEN a reservation made an hour ago and abandoned (its expiry long past)
    aws.running_task()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    aws.ledger(clock=lambda: an_hour_ago).reserve(
        TASK_ID, Usage(tool_calls=1), kind="tool", tool="getCustomer"
    )
    scheduled = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/agentcage-{STAGE}-ledger-sweeper"],
        "detail": {},
    }
    # WHEN the sweeper's artifact runs on its schedule, and once more with an event it does not expect
    (first, second), report = invoke_lambda(
        "ledger-sweeper", [scheduled, {"unexpected": True}], world=aws, budget=budget, tmp_path=tmp_path
    )
    # THEN the reservation is returned once; the second run finds nothing left
    assert (first, second) == ({"expired": 1}, {"expired": 0}), report.details()


# --- lambda-data -------------------------------------------------------------------------------------------
# Each data-service Lambda: a documented API Gateway proxy event it serves, and the same made malformed.
DATA_SERVICE_EVENTS = {
    "customers": "apigw_get_customer",
    "orders": "apigw_list_recent_orders",
    "risk": "apigw_assess_return_exception",
    "refunds": "apigw_create_refund",
    "vendor": "apigw_negotiate_vendor_terms",
    "volumes": "apigw_get_volume",
}


def malformed_proxy_event(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with a body that is not JSON (a write) or a path id that cannot be one (a read)."""
    broken = copy.deepcopy(event)
    if event["httpMethod"] in ("POST", "PUT", "PATCH"):
        broken["body"] = '{"customer_id": "C-1001", '
        return broken
    [(name, value)] = list((event.get("pathParameters") or {}).items())[:1]
    bad = "bad id; DROP"
    broken["pathParameters"] = {**event["pathParameters"], name: bad}
    broken["path"] = event["path"].replace(value, bad.replace(" ", "%20"), 1)
    broken["requestContext"] = {**event["requestContext"], "path": broken["path"]}
    return broken


@pytest.fixture
def domain_tables(aws: AwsWorld) -> dict[str, str]:
    """The seeded domain table and the idempotency table, as a stack's data services have them."""
    from functions.aws.services.repository import create_domain_table, create_idempotency_table
    from functions.aws.services.seed import load_seed_data

    names = {"domain_table": f"{aws.ledger_table}-domain", "idempotency_table": f"{aws.ledger_table}-idem"}
    create_domain_table(aws.dynamodb, names["domain_table"])
    create_idempotency_table(aws.dynamodb, names["idempotency_table"])
    load_seed_data(aws.dynamodb, names["domain_table"])
    return names


@pytest.mark.parametrize("function", sorted(DATA_SERVICE_EVENTS))
def test_data_service_answers_a_valid_event_and_a_malformed_one_with_a_structured_4xx(
    function: str, aws: AwsWorld, domain_tables: dict[str, str], budget: Path, tmp_path: Path
) -> None:
    # GIVEN a documented proxy event the service serves, and the same event malformed
    valid = json.loads((EVENTS / f"{DATA_SERVICE_EVENTS[function]}.json").read_text(encoding="utf-8"))
    malformed = malformed_proxy_event(valid)
    # WHEN the data service's artifact handles both
    (ok, bad), report = invoke_lambda(
        function, [valid, malformed], world=aws, budget=budget, tmp_path=tmp_path, **domain_tables
    )
    # THEN the valid one succeeds and the malformed one is a 4xx with the one error shape (never a 500)
    details = report.details()
    assert 200 <= ok["statusCode"] < 300, f"{ok}\n{details}"
    assert 400 <= bad["statusCode"] < 500, f"{bad}\n{details}"
    error = json.loads(bad["body"])["error"]
    assert {"code", "message", "trace_id"} <= set(error), bad


# --- lambda-bridge -----------------------------------------------------------------------------------------
def test_bridge_forwards_a_valid_result_with_its_federated_identity_and_fails_a_malformed_one(
    aws: AwsWorld, budget: Path, tmp_path: Path
) -> None:
    # GIVEN STS issuing web identity tokens and Entra exchanging them, both on loopback, and two
    # records: a documented ToolResult and a body that is not one
    certificate = self_signed_certificate(tmp_path)
    valid = sqs_records("sqs_tool_results")[0]
    malformed = copy.deepcopy(valid) | {"messageId": "b0d1e5-not-a-result", "body": "not a result"}
    with serving(FakeWebIdentitySts()) as sts, serving(FakeEntra(), certificate=certificate) as entra:
        artifact = host_artifact("lambda-bridge")
        environment = aws_lambda_settings(
            "bridge-to-azure",
            root=artifact.root,
            budget=budget,
            moto_endpoint=aws.endpoint,
            values={
                "tenant_id": TENANT_ID,
                "client_id": BRIDGE_CLIENT_ID,
                "servicebus_namespace": "agentcage-dev.servicebus.windows.net",
            },
        ) | {
            "AWS_ENDPOINT_URL_STS": sts.url,
            "AZURE_AUTHORITY_HOST": entra.url,
            "REQUESTS_CA_BUNDLE": str(certificate[0]),
        }
        # WHEN the bridge's artifact handles both in one batch
        report = run_worker(
            "lambda-bridge",
            artifact.sys_path,
            "bridge_handler",
            {
                "handler": lambda_spec("bridge-to-azure").handler,
                "function": "bridge-to-azure",
                "events": [{"Records": [valid, malformed]}],
            },
            environment,
            cwd=tmp_path,
        )
    # THEN only the malformed record is left on the queue; the result went to the Service Bus results
    # queue with its trace, as the identity STS and Entra issued
    [outcome] = report.answer["outcomes"]
    assert outcome.get("returned") == {"batchItemFailures": [{"itemIdentifier": malformed["messageId"]}]}, (
        report.details()
    )
    [message] = report.answer["servicebus_sent"]
    result = parse_envelope(ToolResult, valid["body"])
    assert (message["queue"], message["message_id"]) == ("tool-results", result.message_id)
    assert message["application_properties"]["traceparent"] == result.traceparent
    assert [r.path for r in sts.requests] == ["/"], "the web identity token comes from STS"
    [grant] = entra.requests
    assert grant.path == f"/{TENANT_ID}/oauth2/v2.0/token"
    assert FakeWebIdentitySts.token in grant.body.decode()


# --- function-app ------------------------------------------------------------------------------------------
REQUEST = "Refund order O-50001 for customer C-1001: returned 45 days after purchase, outside the window."


def client_principal(object_id: str, name: str) -> str:
    """App Service Authentication's ``X-MS-CLIENT-PRINCIPAL`` for a signed-in person."""
    claims = [{"typ": "oid", "val": object_id}, {"typ": "name", "val": name}]
    document = {"auth_typ": "aad", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


def test_function_app_starts_a_task_refuses_a_malformed_one_and_runs_its_first_step(
    aws: AwsWorld, api_gateway: FakeApiGateway, budget: Path, tmp_path: Path
) -> None:
    # GIVEN the app's settings: the managed identity endpoint App Service provides, the ledger
    # reached through the federated role (STS in moto), the scripted model
    identity_header = uuid.uuid4().hex
    with serving(FakeManagedIdentity(identity_header)) as identity:
        artifact = host_artifact("function-app")
        environment = function_app_settings(
            root=artifact.root,
            budget=budget,
            moto_endpoint=aws.endpoint,
            values={
                "ledger_table": aws.ledger_table,
                "ledger_role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/agentcage-{STAGE}-ledger",
                "bridge_role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/agentcage-{STAGE}-bridge",
                "target_reader_role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/agentcage-{STAGE}-target-reader",
                "api_base_url": api_gateway.base_url,
                "federation_audience": f"api://agentcage-{STAGE}-coordinator",
                "requests_queue_url": f"{aws.endpoint}/{ACCOUNT_ID}/agentcage-{STAGE}-tool-requests",
                "coordinator_principal_id": COORDINATOR_PRINCIPAL_ID,
                "servicebus_namespace": "agentcage-dev.servicebus.windows.net",
                "client_id": "3d2f4a6b-0000-4000-8000-0000000000cc",
                "identity_endpoint": f"{identity.url}/msi/token",
                "identity_header": identity_header,
            },
        )
        # WHEN the app is indexed and POST /api/tasks is called with a valid and a malformed body,
        # and the step it enqueued is delivered to the agent-steps trigger, and the MCP route is listed
        report = run_worker(
            "function-app",
            artifact.sys_path,
            "function_app_triggers",
            {
                "headers": {"X-MS-CLIENT-PRINCIPAL": client_principal("oid-rita", "Rita")},
                "valid_body": json.dumps({"request": REQUEST}),
                "malformed_body": '{"request": ',
            },
            environment,
            cwd=tmp_path,
        )
    answer = report.answer
    # THEN every trigger is indexed, the valid task is accepted and its first step queued, the
    # malformed body is a structured 400, and the step ran the model and queued its tool requests
    assert {"create_task", "get_task", "run_agent_step"} <= set(answer["functions"]), answer["functions"]
    assert answer["valid"]["status"] == 202, f"{answer['valid']}\n{report.details()}"
    task_id = json.loads(answer["valid"]["body"])["task_id"]
    assert answer["malformed"]["status"] == 400, answer["malformed"]
    assert {"code", "message", "trace_id"} <= set(json.loads(answer["malformed"]["body"])["error"])
    assert [(m["queue"], json.loads(m["body"])["task_id"]) for m in answer["sent_by_http"]] == [
        ("agent-steps", task_id)
    ]
    assert answer["sent_by_step"], f"the first step queued nothing\n{report.details()}"
    assert {m["queue"] for m in answer["sent_by_step"]} <= {"tool-requests", "agent-steps"}
    assert identity.requests, "the managed identity endpoint was never asked for a token"
    assert aws.ledger().get_task(task_id).agent_id
    # AND the MCP route answers its first tools/list from the artifact alone
    assert answer["mcp"]["status"] == 200, f"{answer['mcp']}\n{report.details()}"
    listed = {tool["name"] for tool in json.loads(answer["mcp"]["body"])["result"]["tools"]}
    assert "getCustomer" in listed
