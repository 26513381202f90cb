"""agentcage on Azure and AWS: the composition of the components, nothing else.

Order follows the data: the Azure platform (identity, telemetry, Service Bus) and the AWS state
(tables, queues) first; then the data-service Lambdas and the API Gateway in front of them; then
federation both ways (the coordinator's target reader may invoke exactly the API's target-resolving
GET methods); then the executor, the bridge, the ledger sweeper and the dead-letters Lambda; then the
coordinator Function App; monitoring last.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
# Pulumi runs `main: infra/` with infra/ first on sys.path, where packaging.py and config.py would
# shadow the libraries of the same name; the program imports its modules as `infra.*` instead,
# exactly as the tests do.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO_ROOT))

import pulumi  # noqa: E402
import pulumi_aws as aws  # noqa: E402
import pulumi_azuread as azuread  # noqa: E402
import yaml  # noqa: E402
from pulumi_azure_native import authorization  # noqa: E402

from agentcage import constants as env  # noqa: E402
from agentcage.approvals.notice import console_url  # noqa: E402
from agentcage.constants import TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE  # noqa: E402
from agentcage.topology import QUEUES, dead_letter_queue  # noqa: E402
from functions.aws.manifest import LAMBDAS, LambdaSpec, lambda_spec  # noqa: E402
from infra import bindings, openapi, packaging  # noqa: E402
from infra.components import (  # noqa: E402
    AwsMonitoring,
    AwsMonitoringArgs,
    AwsState,
    AwsStateArgs,
    AwsToAzureFederation,
    AwsToAzureFederationArgs,
    AzureMonitoring,
    AzureMonitoringArgs,
    AzurePlatform,
    AzurePlatformArgs,
    AzureToAwsFederation,
    AzureToAwsFederationArgs,
    Coordinator,
    CoordinatorArgs,
    CoordinatorAuth,
    CoordinatorAuthArgs,
    IdentityRef,
    QueueTrigger,
    RestApiGateway,
    RestApiGatewayArgs,
    ScheduleTrigger,
    ServiceFunction,
    ServiceFunctionArgs,
)
from infra.components.model_account import ModelAccount, ModelAccountArgs, custom_subdomain  # noqa: E402
from infra.config import deployed_agents, load_stack_config  # noqa: E402
from infra.iam import (  # noqa: E402
    DATA_SERVICE_ACCESS,
    DEAD_LETTERS_LEDGER_ACTIONS,
    IDEMPOTENCY_ACTIONS,
    LEDGER_ACTIONS,
    LEDGER_SWEEPER_ACTIONS,
    TABLE_READ_ACTIONS,
    TABLE_WRITE_ACTIONS,
    Statement,
    allow,
)
from infra.tagging import register_tags  # noqa: E402
from infra.tenant import check_logged_in_tenant  # noqa: E402

LAMBDA_ROOT = "/var/task"
FUNCTION_APP_ROOT = "/home/site/wwwroot"
BUDGET_FILE = "config/budget.yaml"

config = load_stack_config()
# Synchronous lookups, so that a provider logged into another tenant stops the preview here.
azure_client = authorization.get_client_config()
check_logged_in_tenant(
    config.entra_tenant_id,
    {"azure-native": azure_client.tenant_id, "azuread": azuread.get_client_config().tenant_id},
)
register_tags(config.tags)
prefix = config.prefix
lam = config.lambda_
reserved = lam.reserved_concurrency  # None (the default): no Lambda reserves any of the account quota

# --- packages ------------------------------------------------------------------------------------------
# AGENTCAGE_INFRA_BUILD_DIR: where the archives are built (default .agentcage/build); the tests give
# each program run its own, so two runs of one stack never rewrite an archive another is reading.
packages = packaging.build_deployment(
    REPO_ROOT,
    Path(os.environ.get("AGENTCAGE_INFRA_BUILD_DIR") or REPO_ROOT / ".agentcage" / "build")
    / config.environment,
    lam.architecture,
    {BUDGET_FILE: yaml.safe_dump(config.budget_document(), sort_keys=True)},
    packaging.installer_from_environment(REPO_ROOT / ".agentcage" / "wheels"),
)
catalog = openapi.load_catalog(REPO_ROOT / "shared" / "catalog")
queue_access, connections, from_code = bindings.coordinator_queues(bindings.function_app_path(REPO_ROOT))
if not from_code:
    pulumi.log.warn("functions/azure/function_app.py does not exist yet: using the queues DESIGN.md draws")

caller = aws.get_caller_identity_output()


def library_paths(root: str) -> dict[str, str]:
    """Where the packaged catalog, policies, agents and budget file are, under ``root``."""
    return {
        env.CATALOG_DIR_ENV: f"{root}/catalog",
        env.POLICY_DIR_ENV: f"{root}/policies",
        env.AGENTS_DIR_ENV: f"{root}/agents",
        env.BUDGET_CONFIG_ENV: f"{root}/{BUDGET_FILE}",
        env.ENVIRONMENT_ENV: config.environment,
    }


def lambda_function(
    spec: LambdaSpec,
    *,
    reserved: int | None,
    environment: dict[str, pulumi.Input[str]],
    statements: list[Statement] | None = None,
    existing_role: aws.iam.Role | None = None,
    schedule_minutes: int | None = None,
    queue_concurrency: int = 2,
    own_role_id_variable: str | None = None,
) -> ServiceFunction:
    """One Lambda of the manifest (handler, package, memory, timeout, trigger) with this stack's settings.

    A ``schedule`` Lambda runs every ``schedule_minutes`` (the stack's rate), else the manifest's. A queue
    Lambda runs at most ``queue_concurrency`` copies per queue (the runaway ceiling, which needs no quota).
    """
    built = packages[packaging.ARTIFACT_OF_ARCHIVE[spec.archive]]
    trigger: QueueTrigger | ScheduleTrigger | tuple[QueueTrigger, ...] | None = None
    if spec.trigger == "schedule":
        trigger = ScheduleTrigger(schedule_minutes or int(spec.schedule_minutes or 0))
    if spec.queues:  # sqs: its queue; dead_letters: the DLQs it drains (sharing its concurrency)
        arns = {
            TOOL_REQUESTS_QUEUE: state.tool_requests.queue.arn,
            TOOL_RESULTS_QUEUE: state.tool_results.queue.arn,
            dead_letter_queue(TOOL_REQUESTS_QUEUE).name: state.tool_requests.dead_letter.arn,
            dead_letter_queue(TOOL_RESULTS_QUEUE).name: state.tool_results.dead_letter.arn,
        }
        triggers = tuple(
            QueueTrigger(arns[queue], batch_size=spec.batch_size, maximum_concurrency=queue_concurrency)
            for queue in spec.queues
        )
        trigger = triggers[0] if len(triggers) == 1 else triggers
    return ServiceFunction(
        spec.name,
        ServiceFunctionArgs(
            function_name=f"{prefix}-{spec.name}",
            handler=spec.handler,
            code=pulumi.FileArchive(str(built.path)),
            code_sha256_base64=built.base64_sha256,
            architecture=lam.architecture,
            memory_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
            reserved_concurrency=reserved,
            log_retention_days=config.retention.log_days,
            environment={**environment, "POWERTOOLS_SERVICE_NAME": spec.name},
            statements=statements or [],
            trigger=trigger,
            existing_role=existing_role,
            own_role_id_variable=own_role_id_variable,
        ),
    )


# --- Azure platform and AWS state ----------------------------------------------------------------------
platform = AzurePlatform(
    "azure",
    AzurePlatformArgs(
        prefix=prefix,
        location=config.azure_location,
        workspace_retention_days=config.retention.workspace_days,
        queues=[spec for spec in QUEUES if spec.cloud == "azure"],
    ),
)
state = AwsState(
    "aws-state",
    AwsStateArgs(
        prefix=prefix,
        point_in_time_recovery=config.data_protection.point_in_time_recovery,
        deletion_protection=config.data_protection.deletion_protection,
        queues={spec.name: spec for spec in QUEUES if spec.cloud == "aws"},
        consumer_timeouts={queue: spec.timeout_seconds for spec in LAMBDAS for queue in spec.queues},
    ),
)

# --- AWS functions and the API in front of the data services ---------------------------------------------
services: dict[str, ServiceFunction] = {}
for spec in (spec for spec in LAMBDAS if spec.trigger == "api"):
    table_access, idempotent = DATA_SERVICE_ACCESS[spec.name]
    statements: list[Statement] = []
    if table_access != "none":
        actions = TABLE_WRITE_ACTIONS if table_access == "write" else TABLE_READ_ACTIONS
        statements.append(allow("DomainTable", list(actions), [state.domain.arn]))
    environment: dict[str, pulumi.Input[str]] = {
        **library_paths(LAMBDA_ROOT),
        env.DOMAIN_TABLE_ENV: state.domain.name,
    }
    if idempotent:
        statements.append(allow("IdempotencyTable", list(IDEMPOTENCY_ACTIONS), [state.idempotency.arn]))
        environment[env.IDEMPOTENCY_TABLE_ENV] = state.idempotency.name
    services[spec.name] = lambda_function(
        spec,
        reserved=None if reserved is None else reserved.services,
        environment=environment,
        statements=statements,
    )
api = RestApiGateway(
    "api",
    RestApiGatewayArgs(
        prefix=prefix,
        stage_name=config.environment,
        region=config.aws_region,
        account_id=caller.account_id,
        catalog=catalog,
        functions={name: (fn.function.arn, fn.function.name) for name, fn in services.items()},
        log_retention_days=config.retention.log_days,
        manage_account=config.manage_api_gateway_account,
    ),
)

# --- federation both ways ------------------------------------------------------------------------------
inbound = AzureToAwsFederation(
    "azure-to-aws",
    AzureToAwsFederationArgs(
        prefix=prefix,
        tenant_id=config.entra_tenant_id,
        audience=config.federation_audience,  # None: api://<the federation app's client id>
        coordinator_principal_id=platform.identity.principal_id,
        tool_requests_queue_arn=state.tool_requests.queue.arn,
        ledger_table_arn=state.ledger.arn,
        target_read_method_arns=[
            api.method_arn_of[op.operation_id] for op in openapi.target_read_operations(catalog)
        ],
        existing_oidc_provider_arn=config.existing_oidc_provider_arn,
        extra_audiences=config.oidc_provider_extra_audiences,
    ),
)
outbound = AwsToAzureFederation(
    "aws-to-azure",
    AwsToAzureFederationArgs(
        prefix=prefix,
        subscription_id=azure_client.subscription_id,
        results_queue_id=platform.queues[TOOL_RESULTS_QUEUE].id,
    ),
)

# --- AWS functions behind the queues and on a schedule ---------------------------------------------------
executor = lambda_function(
    lambda_spec("tool-executor"),
    reserved=None if reserved is None else reserved.executor,
    queue_concurrency=lam.queue_concurrency.executor,
    environment={
        **library_paths(LAMBDA_ROOT),
        env.LEDGER_BACKEND_ENV: "dynamodb",
        env.LEDGER_TABLE_ENV: state.ledger.name,
        env.TOOL_RESULTS_QUEUE_URL_ENV: state.tool_results.queue.url,
        env.API_BASE_URL_ENV: api.stage.invoke_url,
        env.COORDINATOR_PRINCIPAL_ID_ENV: platform.identity.principal_id,  # may never approve
        env.BRIDGE_ROLE_ID_ENV: inbound.bridge_role.unique_id,  # the only sender of tool requests
        "POWERTOOLS_METRICS_NAMESPACE": env.METRICS_NAMESPACE,
    },
    statements=[
        allow("LedgerTable", list(LEDGER_ACTIONS), [state.ledger.arn]),
        allow("SendToolResults", ["sqs:SendMessage"], [state.tool_results.queue.arn]),
        allow("InvokeCatalogOperations", ["execute-api:Invoke"], api.method_arns),
    ],
)
bridge = lambda_function(
    lambda_spec("bridge-to-azure"),
    reserved=None if reserved is None else reserved.bridge,
    queue_concurrency=lam.queue_concurrency.bridge,
    environment={
        env.ENVIRONMENT_ENV: config.environment,
        env.AZURE_TENANT_ID_ENV: config.entra_tenant_id,
        env.AZURE_CLIENT_ID_ENV: outbound.client_id,
        env.SERVICEBUS_NAMESPACE_ENV: platform.fully_qualified_namespace,
        env.RESULTS_SERVICEBUS_QUEUE_ENV: TOOL_RESULTS_QUEUE,
    },
    existing_role=outbound.bridge_role,
)
# Returns the budget held by reservations a dead process abandoned (Ledger.expire_stale, all tasks).
sweeper = lambda_function(
    lambda_spec("ledger-sweeper"),
    # With reservations on, one sweep at a time; without, an overlapping sweep only finds nothing to do.
    reserved=None if reserved is None else 1,
    environment={
        env.ENVIRONMENT_ENV: config.environment,
        env.LEDGER_BACKEND_ENV: "dynamodb",
        env.LEDGER_TABLE_ENV: state.ledger.name,
    },
    statements=[allow("LedgerSweep", list(LEDGER_SWEEPER_ACTIONS), [state.ledger.arn])],
    schedule_minutes=lam.ledger_sweep_minutes,
)

# Every dead letter of the AWS queues gets an outcome: a request is answered dead_lettered through the
# results queue, a result Azure can never hear ends its task failed in the ledger.
dead_letters = lambda_function(
    lambda_spec("dead-letters"),
    # Two DLQs, each drained by at most queueConcurrency.deadLetters copies; dead letters are rare.
    reserved=None if reserved is None else 2 * lam.queue_concurrency.dead_letters,
    queue_concurrency=lam.queue_concurrency.dead_letters,
    environment={
        env.ENVIRONMENT_ENV: config.environment,
        env.LEDGER_BACKEND_ENV: "dynamodb",
        env.LEDGER_TABLE_ENV: state.ledger.name,
        env.TOOL_RESULTS_QUEUE_URL_ENV: state.tool_results.queue.url,
        env.BRIDGE_ROLE_ID_ENV: inbound.bridge_role.unique_id,  # dead requests verify like live ones
        # A dead result is acted on only when the executor or this drain sent it (its own id is added
        # from its role resource, so a replaced role updates the variable in the same update).
        env.RESULT_SENDER_ROLE_IDS_ENV: executor.role.unique_id,
    },
    statements=[
        allow("LedgerDeadLetters", list(DEAD_LETTERS_LEDGER_ACTIONS), [state.ledger.arn]),
        allow("SendToolResults", ["sqs:SendMessage"], [state.tool_results.queue.arn]),
    ],
    own_role_id_variable=env.RESULT_SENDER_ROLE_IDS_ENV,
)

# Only the coordinator's bridge role sends tool requests; only the executor and the dead-letters drain
# send tool results; each queue has one consumer, the DLQs the drain, and nobody sends to a DLQ (the
# queue policies deny every other principal, whatever its own policy grants).
state.restrict_access(TOOL_REQUESTS_QUEUE, senders=[inbound.bridge_role.arn], consumers=[executor.role.arn])
state.restrict_access(
    TOOL_RESULTS_QUEUE, senders=[executor.role.arn, dead_letters.role.arn], consumers=[bridge.role.arn]
)
for work_queue in (TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE):
    state.restrict_dead_letter_access(work_queue, consumers=[dead_letters.role.arn])

# --- the model the coordinator calls -----------------------------------------------------------------------
model_settings: dict[str, pulumi.Input[str]] = {**config.model.app_settings()}
model_resource_id: pulumi.Input[str] | None = config.model.resource_id  # an existing account, if any
if config.model.create is not None and config.model.deployment is not None:
    created = config.model.create
    model_account = ModelAccount(
        "model",
        ModelAccountArgs(
            prefix=prefix,
            location=config.azure_location,
            resource_group_name=platform.resource_group.name,
            subdomain=custom_subdomain(prefix, azure_client.subscription_id),
            deployment=config.model.deployment,
            model=created.model,
            version=created.version,
            sku=created.sku,
            capacity=created.capacity,
        ),
    )
    model_settings[env.MODEL_ENDPOINT_ENV] = model_account.endpoint
    model_resource_id = model_account.account.id

# --- the coordinator -------------------------------------------------------------------------------------
coordinator = Coordinator(
    "coordinator",
    CoordinatorArgs(
        prefix=prefix,
        location=config.azure_location,
        resource_group_name=platform.resource_group.name,
        subscription_id=azure_client.subscription_id,
        tenant_id=config.entra_tenant_id,
        identity=IdentityRef(
            platform.identity.id, platform.identity.principal_id, platform.identity.client_id
        ),
        servicebus_namespace=platform.fully_qualified_namespace,
        queue_ids={queue: q.id for queue, q in platform.queues.items()},
        queue_access=queue_access,
        connections=connections,
        app_insights_id=platform.app_insights.id,
        app_insights_connection_string=platform.app_insights.connection_string,
        settings={
            **library_paths(FUNCTION_APP_ROOT),
            **model_settings,
            "AWS_REGION": config.aws_region,
            env.LEDGER_BACKEND_ENV: "dynamodb",
            env.LEDGER_TABLE_ENV: state.ledger.name,
            env.LEDGER_ROLE_ARN_ENV: inbound.ledger_role.arn,
            env.BRIDGE_ROLE_ARN_ENV: inbound.bridge_role.arn,
            env.TARGET_READER_ROLE_ARN_ENV: inbound.target_reader_role.arn,
            env.API_BASE_URL_ENV: api.stage.invoke_url,
            env.FEDERATION_AUDIENCE_ENV: inbound.audience,  # the app ID URI the tokens are requested for
            env.TOOL_REQUESTS_QUEUE_URL_ENV: state.tool_requests.queue.url,
            env.APPROVAL_WEBHOOK_FORMAT_ENV: config.approvals.webhook_format,
            env.COORDINATOR_PRINCIPAL_ID_ENV: platform.identity.principal_id,  # may never approve
            # Who approves, who audits, what each requester role may do, which apps may start tasks
            # (agentcage:access; the code's defaults when unset): the same roles as the app roles below.
            **config.access.app_settings(),
        },
        approval_webhook_setting=env.APPROVAL_WEBHOOK_URL_ENV,
        approval_webhook_url=(
            pulumi.Output.secret(config.approval_webhook_url) if config.approval_webhook_url else None
        ),
        maximum_instance_count=config.function_app.maximum_instance_count,
        instance_memory_mb=config.function_app.instance_memory_mb,
        deletion_protection=config.data_protection.deletion_protection,
        model_resource_id=model_resource_id,
        mcp_callers=config.mcp_callers_document(),  # agentcage:mcpCallers; nobody when unset
    ),
)

auth = CoordinatorAuth(
    "coordinator-auth",
    CoordinatorAuthArgs(
        prefix=prefix,
        tenant_id=config.entra_tenant_id,
        resource_group_name=platform.resource_group.name,
        app_name=coordinator.app.name,
        host_name=coordinator.app.default_host_name,  # people sign in to the console on it
        app_roles=config.access.role_descriptions(),  # the roles the app settings above name
        mcp_agents=tuple(deployed_agents()),  # each agent's MCP metadata is served without a token
    ),
)

# --- monitoring ------------------------------------------------------------------------------------------
lambdas = {
    **{f"svc-{name}": fn for name, fn in services.items()},
    "tool-executor": executor,
    "bridge": bridge,
    "ledger-sweeper": sweeper,
    "dead-letters": dead_letters,
}
AwsMonitoring(
    "aws-monitoring",
    AwsMonitoringArgs(
        prefix=prefix,
        region=config.aws_region,
        function_names={short: fn.function.name for short, fn in lambdas.items()},
        log_group_names=[fn.log_group.name for fn in lambdas.values()],
        dead_letter_queue_names={
            TOOL_REQUESTS_QUEUE: state.tool_requests.dead_letter.name,
            TOOL_RESULTS_QUEUE: state.tool_results.dead_letter.name,
        },
        alarms_enabled=config.alarms.enabled,
        alarm_emails=config.alarms.emails,
    ),
)
AzureMonitoring(
    "azure-monitoring",
    AzureMonitoringArgs(
        prefix=prefix,
        location=config.azure_location,
        resource_group_name=platform.resource_group.name,
        workspace_id=platform.workspace.id,
        workspace_name=platform.workspace.name,
        servicebus_namespace_id=platform.namespace.id,
        alarms_enabled=config.alarms.enabled,
        alarm_emails=config.alarms.emails,
    ),
)

pulumi.export("api_url", api.stage.invoke_url)
pulumi.export("coordinator_app", coordinator.app.name)
pulumi.export("coordinator_url", coordinator.app.default_host_name.apply(lambda host: f"https://{host}"))
pulumi.export("coordinator_scope", auth.scope)
# Where a person opens the approval console: through App Service Authentication's sign-in.
pulumi.export(
    "console_url",
    coordinator.app.default_host_name.apply(
        lambda host: console_url(base_url=f"https://{host}", sign_in=True)
    ),
)
pulumi.export("resource_group", platform.resource_group.name)
pulumi.export("function_app_package", str(packages["function-app"].path))
pulumi.export("function_app_package_sha256", packages["function-app"].sha256)
pulumi.export("bridge_role_arn", inbound.bridge_role.arn)
pulumi.export("ledger_role_arn", inbound.ledger_role.arn)
pulumi.export("target_reader_role_arn", inbound.target_reader_role.arn)
pulumi.export("aws_outbound_issuer", outbound.issuer)
pulumi.export("servicebus_namespace", platform.fully_qualified_namespace)
pulumi.export("ledger_table", state.ledger.name)
# What `make cloud-smoke` (infra/smoke) reads to find the stack's data and its saved queries.
pulumi.export("name_prefix", prefix)
pulumi.export("aws_region", config.aws_region)
pulumi.export("domain_table", state.domain.name)
pulumi.export("log_analytics_workspace_id", platform.workspace.customer_id)
pulumi.export("log_analytics_workspace_resource_id", platform.workspace.id)
