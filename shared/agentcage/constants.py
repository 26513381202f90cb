"""Environment variable names and logical resource names, in one place.

Configuration precedence everywhere in agentcage: an explicit argument, then the environment variable
named here, then the default. Infra sets exactly these names on the functions; nothing else reads the
environment.
"""

from __future__ import annotations

from typing import Final

from agentcage import monitoring_names as _monitoring

# --- where the project's own data files live (catalog, policies, agents) ----------------------
CATALOG_DIR_ENV: Final = "AGENTCAGE_CATALOG_DIR"
POLICY_DIR_ENV: Final = "AGENTCAGE_POLICY_DIR"
AGENTS_DIR_ENV: Final = "AGENTCAGE_AGENTS_DIR"

# --- deployment ----------------------------------------------------------------------------------
ENVIRONMENT_ENV: Final = "AGENTCAGE_ENVIRONMENT"  # local | dev | prod
LOG_LEVEL_ENV: Final = "AGENTCAGE_LOG_LEVEL"
INFRA_DEPENDENCIES_DIR_ENV: Final = "AGENTCAGE_INFRA_DEPENDENCIES_DIR"  # infra: pre-built wheels per package

# --- the ledger ------------------------------------------------------------------------------------
LEDGER_BACKEND_ENV: Final = "AGENTCAGE_LEDGER_BACKEND"  # memory | sqlite | dynamodb
LEDGER_TABLE_ENV: Final = "AGENTCAGE_LEDGER_TABLE"
LEDGER_SQLITE_PATH_ENV: Final = "AGENTCAGE_LEDGER_SQLITE_PATH"
LEDGER_ROLE_ARN_ENV: Final = "AGENTCAGE_LEDGER_ROLE_ARN"  # the coordinator reaches DynamoDB through it
BUDGET_CONFIG_ENV: Final = "AGENTCAGE_BUDGET_CONFIG"  # YAML: default limits, ceiling, prices, breaker

# --- AWS data plane --------------------------------------------------------------------------------
TOOL_REQUESTS_QUEUE_URL_ENV: Final = "AGENTCAGE_TOOL_REQUESTS_QUEUE_URL"
TOOL_RESULTS_QUEUE_URL_ENV: Final = "AGENTCAGE_TOOL_RESULTS_QUEUE_URL"
API_BASE_URL_ENV: Final = "AGENTCAGE_API_BASE_URL"  # the REST API Gateway stage URL
IDEMPOTENCY_TABLE_ENV: Final = "AGENTCAGE_IDEMPOTENCY_TABLE"
DOMAIN_TABLE_ENV: Final = "AGENTCAGE_DOMAIN_TABLE"
VENDOR_FAILURE_MODE_ENV: Final = "AGENTCAGE_VENDOR_FAILURE_MODE"  # none | 404 | 503 | 404-then-503
RISK_THRESHOLD_ENV: Final = "AGENTCAGE_RISK_THRESHOLD"  # the legal risk threshold, 0-100 (default 60)
EXECUTOR_LEASE_SECONDS_ENV: Final = "AGENTCAGE_EXECUTOR_LEASE_SECONDS"  # default: executor timeout + margin

# --- federation --------------------------------------------------------------------------------------
BRIDGE_ROLE_ARN_ENV: Final = "AGENTCAGE_BRIDGE_ROLE_ARN"  # Azure -> AWS: the role the coordinator assumes
FEDERATION_AUDIENCE_ENV: Final = "AGENTCAGE_FEDERATION_AUDIENCE"  # the Entra app ID URI
AZURE_TENANT_ID_ENV: Final = "AGENTCAGE_AZURE_TENANT_ID"
AZURE_CLIENT_ID_ENV: Final = "AGENTCAGE_AZURE_CLIENT_ID"  # AWS -> Azure: the Entra app trusted by FIC
# The coordinator's own user-assigned managed identity (its client id): the name azure-identity reads,
# and the one app setting infra writes for it. Telemetry export authenticates as this identity.
MANAGED_IDENTITY_CLIENT_ID_ENV: Final = "AZURE_CLIENT_ID"
SERVICEBUS_NAMESPACE_ENV: Final = "AGENTCAGE_SERVICEBUS_NAMESPACE"  # <name>.servicebus.windows.net
RESULTS_SERVICEBUS_QUEUE_ENV: Final = "AGENTCAGE_RESULTS_SERVICEBUS_QUEUE"

# --- the model -----------------------------------------------------------------------------------------
MODEL_PROVIDER_ENV: Final = "AGENTCAGE_MODEL_PROVIDER"  # scripted | azure_openai | openai | bedrock
MODEL_ENDPOINT_ENV: Final = "AGENTCAGE_MODEL_ENDPOINT"
MODEL_DEPLOYMENT_ENV: Final = "AGENTCAGE_MODEL_DEPLOYMENT"
MODEL_BASE_URL_ENV: Final = "AGENTCAGE_MODEL_BASE_URL"
MODEL_API_VERSION_ENV: Final = "AGENTCAGE_MODEL_API_VERSION"  # Azure OpenAI data-plane api-version
MODEL_TIMEOUT_ENV: Final = "AGENTCAGE_MODEL_TIMEOUT_S"  # seconds per model attempt
MODEL_REGION_ENV: Final = "AGENTCAGE_MODEL_REGION"  # Bedrock region (else the AWS SDK default)

# --- approvals ---------------------------------------------------------------------------------------
APPROVAL_WEBHOOK_URL_ENV: Final = "AGENTCAGE_APPROVAL_WEBHOOK_URL"
APPROVAL_WEBHOOK_FORMAT_ENV: Final = "AGENTCAGE_APPROVAL_WEBHOOK_FORMAT"  # slack | teams
DEV_APPROVER_ENV: Final = "AGENTCAGE_DEV_APPROVER"  # local runtime only
# --- people: who a task runs for, who may read and decide it (issue 14, agentcage.approvals.principal) --
# App Service Authentication sets it to "True" when it is on: only then is X-MS-CLIENT-PRINCIPAL trusted.
WEBSITE_AUTH_ENABLED_ENV: Final = "WEBSITE_AUTH_ENABLED"
# Set by App Service to the app's primary host name: where console links point when no public URL is set.
WEBSITE_HOSTNAME_ENV: Final = "WEBSITE_HOSTNAME"
TRUSTED_AUTOMATIONS_ENV: Final = "AGENTCAGE_TRUSTED_AUTOMATIONS"  # app (client) ids that may create tasks
APPROVER_ROLES_ENV: Final = "AGENTCAGE_APPROVER_ROLES"  # comma-separated (default approver,finance,...)
AUDITOR_ROLES_ENV: Final = "AGENTCAGE_AUDITOR_ROLES"  # comma-separated (default auditor)
REQUESTER_AUTHORITY_ENV: Final = "AGENTCAGE_REQUESTER_AUTHORITY"  # JSON: per-role limits for the policy
DEV_REQUESTER_ENV: Final = "AGENTCAGE_DEV_REQUESTER"  # local runtime only, like DEV_APPROVER_ENV
DEV_PRINCIPALS_ENV: Final = "AGENTCAGE_DEV_PRINCIPALS"  # local runtime only: more "id:role,role" specs
LOCAL_LISTEN_HOST_ENV: Final = "AGENTCAGE_LOCAL_LISTEN_HOST"  # set by the local host: where it listens
PUBLIC_BASE_URL_ENV: Final = "AGENTCAGE_PUBLIC_BASE_URL"  # links in approval notifications
# The Application Insights component's resource id (/subscriptions/.../components/<name>): the console's
# links to a trace's query in the portal (agentcage.console.links)
APP_INSIGHTS_RESOURCE_ID_ENV: Final = "AGENTCAGE_APP_INSIGHTS_RESOURCE_ID"
COORDINATOR_PRINCIPAL_ID_ENV: Final = "AGENTCAGE_COORDINATOR_PRINCIPAL_ID"  # its identity never approves
# The unique id (AROA...) of the bridge role the coordinator assumes: an SQS SenderId of one of its
# sessions starts with it; the executor and the dead-letters drain accept tool requests from no other role
BRIDGE_ROLE_ID_ENV: Final = "AGENTCAGE_BRIDGE_ROLE_ID"
# Comma-separated unique ids (AROA...) of the roles that send tool results (the executor's and the
# dead-letters drain's): the drain acts on a dead-lettered result only when its SenderId is one of them
RESULT_SENDER_ROLE_IDS_ENV: Final = "AGENTCAGE_RESULT_SENDER_ROLE_IDS"

# --- logical queue names (the cloud names carry a stack prefix that infra adds) ------------------------
AGENT_STEPS_QUEUE: Final = "agent-steps"
TOOL_REQUESTS_QUEUE: Final = "tool-requests"
TOOL_RESULTS_QUEUE: Final = "tool-results"

# --- the strictest message size on any queue path (Service Bus Standard) --------------------------------
MAX_ENVELOPE_BYTES: Final = 256 * 1024

# --- metrics: defined with every other monitoring name in agentcage.monitoring_names (the emitters,
# the dashboards and the alarms read them there); re-exported here for the modules that import them
# from this one ------------------------------------------------------------------------------------------
METRIC_BREAKER_TRIPS: Final = _monitoring.METRIC_BREAKER_TRIPS
METRIC_COST_MICRO_USD: Final = _monitoring.METRIC_COST_MICRO_USD
METRIC_DEAD_LETTERS_LEFT: Final = _monitoring.METRIC_DEAD_LETTERS_LEFT
METRIC_DEAD_LETTERS_RECEIVED: Final = _monitoring.METRIC_DEAD_LETTERS_RECEIVED
METRIC_DIMENSION_REASON: Final = _monitoring.METRIC_DIMENSION_REASON
METRIC_DIMENSION_TOOL: Final = _monitoring.METRIC_DIMENSION_TOOL
METRIC_RESERVATIONS_EXPIRED: Final = _monitoring.METRIC_RESERVATIONS_EXPIRED
METRIC_TOKENS_USED: Final = _monitoring.METRIC_TOKENS_USED
METRIC_TOOL_CALLS: Final = _monitoring.METRIC_TOOL_CALLS
METRIC_TOOL_DENIALS: Final = _monitoring.METRIC_TOOL_DENIALS
METRIC_TOOL_LATENCY: Final = _monitoring.METRIC_TOOL_LATENCY
METRICS_NAMESPACE: Final = _monitoring.METRICS_NAMESPACE

# --- the coordinator's read path to AWS (target tags for the policy) ---------------------------------------
TARGET_READER_ROLE_ARN_ENV: Final = (
    "AGENTCAGE_TARGET_READER_ROLE_ARN"  # execute-api:Invoke on resolve_with GETs
)

# --- the idempotency key of a write, sent by the executor and honoured by the data service ---------
APPROVAL_ID_HEADER: Final = "X-Agentcage-Approval-Id"
ARGS_DIGEST_HEADER: Final = "X-Agentcage-Args-Digest"

# --- the local runtime's timers (the cloud runs them on their NCRONTAB schedule) ---------------------
LOCAL_TIMER_SECONDS_ENV: Final = "AGENTCAGE_LOCAL_TIMER_SECONDS"  # default 30: every timer function locally

# --- the MCP gateway (agentcage.mcp) -----------------------------------------------------------------------
# A JSON object: caller (an Entra object id, or "*" for any authenticated caller) -> the agents it may use
# (a list, or "*"); the local runtime's development principal may use every agent unless it is named
MCP_CALLERS_ENV: Final = "AGENTCAGE_MCP_CALLERS"
MCP_WAIT_SECONDS_ENV: Final = "AGENTCAGE_MCP_WAIT_SECONDS"  # default 20: then a tools/call answers pending
# The authorization server the protected-resource metadata names (Entra: https://login.microsoftonline.com/<tenant>/v2.0)
MCP_AUTHORIZATION_SERVER_ENV: Final = "AGENTCAGE_MCP_AUTHORIZATION_SERVER"
MCP_SCOPES_ENV: Final = "AGENTCAGE_MCP_SCOPES"  # space-separated scopes a client asks its token for
