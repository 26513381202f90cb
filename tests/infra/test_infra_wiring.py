"""How the resources are wired: functions, triggers, the API, federation, the coordinator, monitoring,
and what differs between dev and prod."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from infra_harness import StackRun

from agentcage import constants
from functions.aws.manifest import lambda_spec
from infra.azure_roles import (
    COGNITIVE_SERVICES_OPENAI_USER,
    SERVICE_BUS_DATA_RECEIVER,
    SERVICE_BUS_DATA_SENDER,
)
from infra.openapi import execute_api_path, load_catalog, operations
from infra.policy_pack.rules import settings_of

REPO_ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(REPO_ROOT / "shared" / "catalog")
LAMBDA = "aws:lambda/function:Function"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
AGENTCAGE_ENV_NAMES = {v for k, v in vars(constants).items() if k.endswith("_ENV")}


def functions(run: StackRun) -> dict[str, dict]:
    return {f.inputs["name"].removeprefix(f"agentcage-{run.stack}-"): f.inputs for f in run.of_type(LAMBDA)}


def policy_statements(run: StackRun, policy_name: str) -> list[dict]:
    policy = run.one("aws:iam/rolePolicy:RolePolicy", policy_name)
    return json.loads(policy.inputs["policy"])["Statement"]


def test_lambdas_run_the_contract_handlers_with_the_configured_shape(run: StackRun) -> None:
    lam = run.config["agentcage:lambda"]
    found = functions(run)
    expected = {
        "tool-executor": "functions.aws.tool_executor.handler",
        "bridge-to-azure": "functions.aws.bridge_to_azure.handler",
        "ledger-sweeper": "functions.aws.ledger_sweeper.handler",
        "dead-letters": "functions.aws.dead_letters.handler",
        **{
            s: f"functions.aws.services.{s}.handler"
            for s in ("customers", "orders", "risk", "refunds", "vendor", "volumes")
        },
    }
    assert {name: f["handler"] for name, f in found.items()} == expected
    for name, function in found.items():
        assert function["runtime"] == "python3.12"
        assert function["architectures"] == [lam["architecture"]]
        assert function["tracingConfig"] == {"mode": "Active"}
        assert function["loggingConfig"]["logGroup"] == f"/aws/lambda/agentcage-{run.stack}-{name}"
        spec = lambda_spec(name)  # memory and timeout come from the Lambda manifest
        assert (function["memorySize"], function["timeout"]) == (spec.memory_mb, spec.timeout_seconds)
        # No reservation: a new account's quota (10) has none to give (AWS keeps 100 unreserved).
        assert function.get("reservedConcurrentExecutions") is None, name
        archive = Path(function["code"]["path"])
        digest = base64.b64encode(hashlib.sha256(archive.read_bytes()).digest()).decode()
        assert function["sourceCodeHash"] == digest, name
        extra = set(function["environment"]["variables"]) - AGENTCAGE_ENV_NAMES
        assert {e for e in extra if not e.startswith("POWERTOOLS_")} == set(), name


def test_queue_triggers_report_partial_batch_failures(run: StackRun) -> None:
    mappings = {m.name: m.inputs for m in run.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")}
    queues = {q.inputs["name"]: q.outputs["arn"] for q in run.of_type("aws:sqs/queue:Queue")}
    prefix = f"agentcage-{run.stack}"
    assert mappings["tool-executor-trigger"]["eventSourceArn"] == queues[f"{prefix}-tool-requests"]
    assert mappings["bridge-to-azure-trigger"]["eventSourceArn"] == queues[f"{prefix}-tool-results"]
    for mapping in mappings.values():
        assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    # The runaway ceiling, in place of reserved concurrency: at most this many copies per queue.
    ceiling = run.config["agentcage:lambda"]["queueConcurrency"]
    assert {name: m["scalingConfig"]["maximumConcurrency"] for name, m in mappings.items()} == {
        "tool-executor-trigger": ceiling["executor"],
        "bridge-to-azure-trigger": ceiling["bridge"],
        "dead-letters-trigger-0": ceiling["deadLetters"],
        "dead-letters-trigger-1": ceiling["deadLetters"],
    }


def test_each_data_service_role_names_exact_actions_on_exact_tables(run: StackRun) -> None:
    tables = {
        t.inputs["name"].rsplit("-", 1)[1]: t.outputs["arn"] for t in run.of_type("aws:dynamodb/table:Table")
    }
    for service in ("customers", "orders", "risk", "vendor", "volumes", "refunds"):
        grants = {s["Sid"]: s for s in policy_statements(run, f"{service}-policy")}
        data = {sid: s for sid, s in grants.items() if sid not in ("WriteOwnLogGroup", "SendTraces")}
        if service == "vendor":
            assert data == {}
            continue
        assert data["DomainTable"]["Resource"] == [tables["domain"]]
        writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
        assert bool(writes & set(data["DomainTable"]["Action"])) == (service in ("refunds", "volumes"))
        assert ("IdempotencyTable" in data) == (service == "refunds")


def test_the_executor_invokes_exactly_the_catalog_operations_of_its_stage(run: StackRun) -> None:
    (api,) = run.of_type("aws:apigateway/restApi:RestApi")
    stage_arn = f"{api.outputs['executionArn']}/{run.stack}/"
    expected = {stage_arn + execute_api_path(op.method, op.path) for op in operations(CATALOG)}
    grants = {s["Sid"]: s for s in policy_statements(run, "tool-executor-policy")}
    assert set(grants["InvokeCatalogOperations"]["Resource"]) == expected
    assert grants["InvokeCatalogOperations"]["Action"] == ["execute-api:Invoke"]
    permissions = {
        p.inputs["sourceArn"]
        for p in run.of_type("aws:lambda/permission:Permission")
        if p.inputs["principal"] == "apigateway.amazonaws.com"
    }
    assert permissions == expected
    ledger = run.one("aws:dynamodb/table:Table", "aws-state-ledger")
    assert grants["LedgerTable"]["Resource"] == [ledger.outputs["arn"]]


def test_the_api_is_the_catalog_with_iam_auth_validation_and_proxy_integrations(run: StackRun) -> None:
    (api,) = run.of_type("aws:apigateway/restApi:RestApi")
    body = json.loads(api.inputs["body"])
    arns = {f.name.removesuffix("-function"): f.outputs["arn"] for f in run.of_type(LAMBDA)}
    assert "x-agentcage" not in api.inputs["body"]
    assert body["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    for op in operations(CATALOG):
        method = body["paths"][op.path][op.method]
        assert method["security"] == [{"sigv4": []}]
        assert (
            method["x-amazon-apigateway-request-validator"] in body["x-amazon-apigateway-request-validators"]
        )
        assert arns[op.function] in method["x-amazon-apigateway-integration"]["uri"], op.operation_id
    (stage,) = run.of_type("aws:apigateway/stage:Stage")
    assert stage.inputs["xrayTracingEnabled"] is True
    access = run.one("aws:cloudwatch/logGroup:LogGroup", "api-access-logs")
    assert stage.inputs["accessLogSettings"]["destinationArn"] == access.outputs["arn"]


def test_aws_to_azure_trusts_exactly_the_bridge_lambda_role(run: StackRun) -> None:
    (fic,) = run.of_type(
        "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential"
    )
    (outbound,) = run.of_type("aws:iam/outboundWebIdentityFederation:OutboundWebIdentityFederation")
    bridge = functions(run)["bridge-to-azure"]
    assert fic.inputs["issuer"] == outbound.outputs["issuerIdentifier"]
    assert fic.inputs["subject"] == bridge["role"]
    assert fic.inputs["audiences"] == ["api://AzureADTokenExchange"]
    app = run.one("azuread:index/application:Application", "aws-to-azure-app")
    assert fic.inputs["applicationId"] == app.outputs["id"]
    assert bridge["environment"]["variables"][constants.AZURE_CLIENT_ID_ENV] == app.outputs["clientId"]
    principal = run.one("azuread:index/servicePrincipal:ServicePrincipal", "aws-to-azure-sp").outputs[
        "objectId"
    ]
    grants = [a.inputs for a in run.of_type(ROLE_ASSIGNMENT) if a.inputs["principalId"] == principal]
    results_queue = run.one("azure-native:servicebus:Queue", "azure-tool-results").outputs["id"]
    assert [(g["scope"], g["roleDefinitionId"].rsplit("/", 1)[1]) for g in grants] == [
        (results_queue, SERVICE_BUS_DATA_SENDER)
    ]


def test_the_coordinator_identity_has_exactly_the_roles_it_uses(run: StackRun) -> None:
    (identity,) = run.of_type("azure-native:managedidentity:UserAssignedIdentity")
    grants = [
        a.inputs
        for a in run.of_type(ROLE_ASSIGNMENT)
        if a.inputs["principalId"] == identity.outputs["principalId"]
    ]
    assert {g["principalType"] for g in grants} == {"ServicePrincipal"}
    queues = {q.outputs["id"]: q.inputs["queueName"] for q in run.of_type("azure-native:servicebus:Queue")}
    on_queues = {
        (queues[g["scope"]], g["roleDefinitionId"].rsplit("/", 1)[1]) for g in grants if g["scope"] in queues
    }
    receive, send = SERVICE_BUS_DATA_RECEIVER, SERVICE_BUS_DATA_SENDER
    assert on_queues == {
        ("agent-steps", receive), ("agent-steps", send), ("tool-requests", receive), ("tool-requests", send),
        ("tool-results", receive),
    }  # fmt: skip
    others = sorted(
        g["scope"].split("/providers/")[1].split("/")[0] for g in grants if g["scope"] not in queues
    )
    expected = [
        "azure-native:applicationinsights:Component",
        "azure-native:cognitiveservices:Account",  # the model it calls
        "azure-native:storage:StorageAccount",
    ]
    if run.stack == "prod":
        expected.append("azure-native:keyvault:Secret")
    assert others == sorted(expected)


def test_the_function_app_runs_on_flex_consumption_with_identity_only_connections(run: StackRun) -> None:
    (plan,) = run.of_type("azure-native:web:AppServicePlan")
    assert plan.inputs["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    (app,) = run.of_type("azure-native:web:WebApp")
    (identity,) = run.of_type("azure-native:managedidentity:UserAssignedIdentity")
    (account,) = run.of_type("azure-native:storage:StorageAccount")
    config = app.inputs["functionAppConfig"]
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["value"] == account.outputs["primaryEndpoints"]["blob"] + "app-package"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": identity.outputs["id"],
    }
    assert config["runtime"] == {"name": "python", "version": "3.12"}
    assert (
        config["scaleAndConcurrency"]["maximumInstanceCount"]
        == run.config["agentcage:functionApp"]["maximumInstanceCount"]
    )
    assert app.inputs["identity"]["userAssignedIdentities"] == [identity.outputs["id"]]
    settings = settings_of(app.type, app.inputs)
    namespace = (
        run.of_type("azure-native:servicebus:Namespace")[0].outputs["name"] + ".servicebus.windows.net"
    )
    client_id = identity.outputs["clientId"]
    assert {k: settings[k] for k in settings if k.startswith("SERVICEBUS__")} == {
        "SERVICEBUS__fullyQualifiedNamespace": namespace,
        "SERVICEBUS__credential": "managedidentity",
        "SERVICEBUS__clientId": client_id,
    }
    assert settings["AzureWebJobsStorage__accountName"] == account.outputs["name"]
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    bridge_role = run.one("aws:iam/role:Role", "azure-to-aws-bridge-role").outputs["arn"]
    assert settings[constants.BRIDGE_ROLE_ARN_ENV] == bridge_role
    federation = run.one(
        "azuread:index/applicationIdentifierUri:ApplicationIdentifierUri", "azure-to-aws-identifier-uri"
    )
    assert settings[constants.FEDERATION_AUDIENCE_ENV] == federation.inputs["identifierUri"]


def test_service_bus_queues_are_the_unprefixed_logical_names(run: StackRun) -> None:
    names = {q.inputs["queueName"] for q in run.of_type("azure-native:servicebus:Queue")}
    assert names == {constants.AGENT_STEPS_QUEUE, constants.TOOL_REQUESTS_QUEUE, constants.TOOL_RESULTS_QUEUE}


def test_monitoring_covers_metrics_dlqs_functions_and_both_lookups(run: StackRun) -> None:
    (dashboard,) = run.of_type("aws:cloudwatch/dashboard:Dashboard")
    body = dashboard.inputs["dashboardBody"]
    # Tokens and cost are settled on the Azure side and charted there (azure_monitoring), not here.
    for metric in ("ToolCalls", "ToolDenials", "BreakerTrips", "ToolLatency"):
        assert f"({metric}) FROM agentcage" in body
    for name in functions(run):
        assert f"agentcage-{run.stack}-{name}" in body
    assert f"agentcage-{run.stack}-tool-requests-dlq" in body
    lambda_groups = {f["loggingConfig"]["logGroup"] for f in functions(run).values()}
    queries = {
        q.inputs["name"]: q.inputs for q in run.of_type("aws:cloudwatch/queryDefinition:QueryDefinition")
    }
    assert set(queries) == {f"agentcage-{run.stack}/task-by-id", f"agentcage-{run.stack}/trace-by-id"}
    for query in queries.values():
        assert set(query["logGroupNames"]) == lambda_groups
    searches = {
        s.inputs["savedSearchId"] for s in run.of_type("azure-native:operationalinsights:SavedSearch")
    }
    assert {"agentcage_task_by_id", "agentcage_trace_by_id"} <= searches


def test_prod_differs_from_dev_where_it_should(program_runs: dict[str, StackRun]) -> None:
    dev, prod = program_runs["dev"], program_runs["prod"]
    for table in prod.of_type("aws:dynamodb/table:Table"):
        assert table.inputs["pointInTimeRecovery"]["enabled"] is True
        assert table.inputs["deletionProtectionEnabled"] is True
    for table in dev.of_type("aws:dynamodb/table:Table"):
        assert table.inputs["pointInTimeRecovery"]["enabled"] is False
    (topic,) = prod.of_type("aws:sns/topic:Topic")
    alarms = {a.inputs["name"]: a.inputs for a in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert set(alarms) == {
        "agentcage-prod-tool-requests-dlq-not-empty",
        "agentcage-prod-tool-results-dlq-not-empty",
        "agentcage-prod-breaker-trips",
        "agentcage-prod-dead-letters",
        "agentcage-prod-unreadable-messages",
        "agentcage-prod-unvouched-messages",
    }
    assert all(a["alarmActions"] == [topic.outputs["arn"]] for a in alarms.values())
    # breaker trips, function failures, unreadable and unvouched messages
    assert len(prod.of_type("azure-native:monitor:ScheduledQueryRule")) == 4
    assert dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") == []
    retention = [r.config["agentcage:retention"]["logDays"] for r in (dev, prod)]
    assert retention[0] < retention[1]
    executor = [
        r.one("aws:lambda/eventSourceMapping:EventSourceMapping", "tool-executor-trigger").inputs[
            "scalingConfig"
        ]
        for r in (dev, prod)
    ]
    assert executor[0]["maximumConcurrency"] < executor[1]["maximumConcurrency"]


def test_the_http_routes_require_an_entra_token_for_the_coordinator_api(run: StackRun) -> None:
    (auth,) = run.of_type("azure-native:web:WebAppAuthSettingsV2")
    (app,) = run.of_type("azure-native:web:WebApp")
    api = run.one("azuread:index/application:Application", "coordinator-auth-api")
    assert auth.inputs["name"] == app.outputs["name"]
    validation = auth.inputs["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "Return401"
    # only the documents a client reads before it has a token (the MCP authorization spec): the
    # gateway's metadata, bare and per agent (test_infra_console_sign_in has the exact list)
    assert validation["excludedPaths"][0] == "/api/mcp/.well-known/oauth-protected-resource"
    assert all(
        p.startswith("/api/mcp/.well-known/oauth-protected-resource") for p in validation["excludedPaths"]
    )
    entra = auth.inputs["identityProviders"]["azureActiveDirectory"]
    tenant = run.config["agentcage:entraTenantId"]
    assert entra["registration"] == {
        "clientId": api.outputs["clientId"],
        "openIdIssuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
    }
    assert "clientSecretSettingName" not in entra["registration"]  # validation only: no secret
    # The identifier URI is api://<client id>, set once the application exists: the form Entra's
    # identifier-URI policy accepts in every tenant (api://agentcage-dev-coordinator is refused).
    identifier = run.one(
        "azuread:index/applicationIdentifierUri:ApplicationIdentifierUri", "coordinator-auth-identifier-uri"
    )
    assert identifier.inputs == {
        "applicationId": api.outputs["id"],
        "identifierUri": f"api://{api.outputs['clientId']}",
    }
    assert "identifierUris" not in api.inputs  # owned by the identifier URI resource alone
    assert entra["validation"]["allowedAudiences"] == [
        identifier.inputs["identifierUri"],
        api.outputs["clientId"],
    ]
    assert auth.inputs["name"] == app.outputs["name"]


def test_the_federation_audience_is_one_uri_from_entra_to_the_trust_policy_and_the_token_requests(
    run: StackRun,
) -> None:
    app = run.one("azuread:index/application:Application", "azure-to-aws-app")
    identifier = run.one(
        "azuread:index/applicationIdentifierUri:ApplicationIdentifierUri", "azure-to-aws-identifier-uri"
    )
    tenant = run.config["agentcage:entraTenantId"]
    # dev takes the default (api://<client id>); prod names api://<tenant>/<name> (infra_harness)
    expected = {"dev": f"api://{app.outputs['clientId']}", "prod": f"api://{tenant}/agentcage-prod"}[
        run.stack
    ]
    assert identifier.inputs == {"applicationId": app.outputs["id"], "identifierUri": expected}
    assert "identifierUris" not in app.inputs
    (coordinator,) = run.of_type("azure-native:web:WebApp")
    assert settings_of(coordinator.type, coordinator.inputs)[constants.FEDERATION_AUDIENCE_ENV] == expected
    for role in ("bridge", "ledger", "target-reader"):
        trust = json.loads(
            run.one("aws:iam/role:Role", f"azure-to-aws-{role}-role").inputs["assumeRolePolicy"]
        )
        assert (
            trust["Statement"][0]["Condition"]["StringEquals"][f"sts.windows.net/{tenant}/:aud"] == expected
        )


def test_the_coordinator_calls_the_model_account_the_stack_creates_and_is_granted_on_it(
    run: StackRun,
) -> None:
    (account,) = run.of_type("azure-native:cognitiveservices:Account")
    (deployment,) = run.of_type("azure-native:cognitiveservices:Deployment")
    model = run.config["agentcage:model"]
    assert account.inputs["kind"] == "OpenAI"
    assert account.inputs["properties"]["disableLocalAuth"] is True  # Entra tokens only
    assert deployment.inputs["deploymentName"] == model["deployment"]
    assert deployment.inputs["accountName"] == account.outputs["name"]
    assert deployment.inputs["properties"]["model"] == {
        "format": "OpenAI",
        "name": model["create"]["model"],
        "version": model["create"]["version"],
    }
    (app,) = run.of_type("azure-native:web:WebApp")
    settings = settings_of(app.type, app.inputs)
    assert settings[constants.MODEL_ENDPOINT_ENV] == account.outputs["properties"]["endpoint"]
    assert settings[constants.MODEL_DEPLOYMENT_ENV] == model["deployment"]
    (identity,) = run.of_type("azure-native:managedidentity:UserAssignedIdentity")
    grants = [
        g.inputs
        for g in run.of_type(ROLE_ASSIGNMENT)
        if g.inputs["scope"] == account.outputs["id"]
        and g.inputs["principalId"] == identity.outputs["principalId"]
    ]
    assert [g["roleDefinitionId"].rsplit("/", 1)[1] for g in grants] == [COGNITIVE_SERVICES_OPENAI_USER]
