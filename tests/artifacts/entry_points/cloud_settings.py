"""The settings each function gets in the cloud, with every endpoint pointed at loopback.

The names and values follow ``infra/__main__.py`` (``library_paths`` and each function's
``environment=``) and ``infra/components/coordinator.py`` (the Function App's identity settings);
the names come from :mod:`agentcage.constants`, the one place infra and the code read them from.
The budget file is the one infra writes for the committed dev stack (``StackConfig.budget_document``).

What differs from the cloud is only *where* things are, through the SDKs' own documented settings:
``AWS_ENDPOINT_URL`` (moto_server) and ``AWS_ENDPOINT_URL_STS`` (a loopback STS for
``GetWebIdentityToken``, which moto lacks), ``AZURE_AUTHORITY_HOST`` (a loopback Entra over TLS,
trusted with ``REQUESTS_CA_BUNDLE``), ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` (App Service's
managed identity endpoint, as the platform sets them), and API/queue URLs (loopback fakes).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from agentcage import constants as env
from functions.aws.manifest import lambda_spec

__all__ = [
    "ACCOUNT_ID",
    "REGION",
    "STAGE",
    "aws_lambda_settings",
    "budget_file",
    "function_app_settings",
    "library_paths",
]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
STAGE = "dev"
_REPO_ROOT = Path(__file__).resolve().parents[3]
_BUDGET_FILE = "config/budget.yaml"  # infra/__main__.py's BUDGET_FILE


def budget_file(directory: Path) -> Path:
    """Write the budget file infra would generate for the committed dev stack; its path."""
    from infra.config import parse_config

    values = yaml.safe_load((_REPO_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))["config"]
    document = parse_config(values, frozenset()).budget_document()
    path = directory / _BUDGET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=True), encoding="utf-8")
    return path


def library_paths(root: Path, budget: Path) -> dict[str, str]:
    """``library_paths`` of infra/__main__.py: the packaged catalog, policies, agents and budget file."""
    return {
        env.CATALOG_DIR_ENV: str(root / "catalog"),
        env.POLICY_DIR_ENV: str(root / "policies"),
        env.AGENTS_DIR_ENV: str(root / "agents"),
        env.BUDGET_CONFIG_ENV: str(budget),
        env.ENVIRONMENT_ENV: STAGE,
    }


def _lambda_runtime(function: str, moto_endpoint: str) -> dict[str, str]:
    """What the Lambda runtime itself sets (role credentials, region, function name) plus the endpoint."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": f"agentcage-{STAGE}-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(lambda_spec(function).memory_mb),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "ASIAARTIFACTTEST",
        "AWS_SECRET_ACCESS_KEY": "artifact-test-secret",
        "AWS_SESSION_TOKEN": "artifact-test-session",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "_X_AMZN_TRACE_ID": "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=0",
        "POWERTOOLS_SERVICE_NAME": function,
        "TZ": ":UTC",
        "LANG": "C.UTF-8",
    }


def aws_lambda_settings(
    function: str, *, root: Path, budget: Path, moto_endpoint: str, values: Mapping[str, str]
) -> dict[str, str]:
    """The environment of Lambda ``function`` (manifest name): infra's variables, ``values`` filled in.

    ``values`` holds the deployment's outputs: ``ledger_table``, ``results_queue_url``,
    ``api_base_url``, ``domain_table``, ``idempotency_table``, ``servicebus_namespace``,
    ``tenant_id``, ``client_id``, ``coordinator_principal_id`` (what a stack's resources are named).
    """
    settings = _lambda_runtime(function, moto_endpoint)
    ledger = {env.LEDGER_BACKEND_ENV: "dynamodb", env.LEDGER_TABLE_ENV: values.get("ledger_table", "")}
    if function == "tool-executor":
        settings |= library_paths(root, budget) | ledger
        settings |= {
            env.TOOL_RESULTS_QUEUE_URL_ENV: values["results_queue_url"],
            env.API_BASE_URL_ENV: values["api_base_url"],
            env.COORDINATOR_PRINCIPAL_ID_ENV: values["coordinator_principal_id"],
            "POWERTOOLS_METRICS_NAMESPACE": env.METRICS_NAMESPACE,
        }
    elif function == "dead-letters":
        settings |= {env.ENVIRONMENT_ENV: STAGE, **ledger}
        settings[env.TOOL_RESULTS_QUEUE_URL_ENV] = values["results_queue_url"]
    elif function == "ledger-sweeper":
        settings |= {env.ENVIRONMENT_ENV: STAGE, **ledger}
    elif function == "bridge-to-azure":
        settings |= {
            env.ENVIRONMENT_ENV: STAGE,
            env.AZURE_TENANT_ID_ENV: values["tenant_id"],
            env.AZURE_CLIENT_ID_ENV: values["client_id"],
            env.SERVICEBUS_NAMESPACE_ENV: values["servicebus_namespace"],
            env.RESULTS_SERVICEBUS_QUEUE_ENV: env.TOOL_RESULTS_QUEUE,
        }
    elif lambda_spec(function).trigger == "api":
        settings |= library_paths(root, budget)
        settings[env.DOMAIN_TABLE_ENV] = values["domain_table"]
        from infra.iam import DATA_SERVICE_ACCESS

        if DATA_SERVICE_ACCESS[function][1]:  # the services infra gives an idempotency table
            settings[env.IDEMPOTENCY_TABLE_ENV] = values["idempotency_table"]
    else:
        raise KeyError(f"no settings known for Lambda {function!r}")
    return settings


def function_app_settings(
    *, root: Path, budget: Path, moto_endpoint: str, values: Mapping[str, str]
) -> dict[str, str]:
    """The coordinator's app settings (infra's ``settings=`` plus the platform's identity variables).

    ``values`` as for :func:`aws_lambda_settings`, plus ``identity_endpoint``/``identity_header`` (the
    managed identity endpoint App Service provides), the role ARNs, the audience, the requests queue.
    """
    return {
        **library_paths(root, budget),
        env.MODEL_PROVIDER_ENV: "scripted",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        env.LEDGER_BACKEND_ENV: "dynamodb",
        env.LEDGER_TABLE_ENV: values["ledger_table"],
        env.LEDGER_ROLE_ARN_ENV: values["ledger_role_arn"],
        env.BRIDGE_ROLE_ARN_ENV: values["bridge_role_arn"],
        env.TARGET_READER_ROLE_ARN_ENV: values["target_reader_role_arn"],
        env.API_BASE_URL_ENV: values["api_base_url"],
        env.FEDERATION_AUDIENCE_ENV: values["federation_audience"],
        env.TOOL_REQUESTS_QUEUE_URL_ENV: values["requests_queue_url"],
        env.APPROVAL_WEBHOOK_FORMAT_ENV: "slack",
        env.COORDINATOR_PRINCIPAL_ID_ENV: values["coordinator_principal_id"],
        # The identity-based Service Bus connection the triggers bind with (coordinator.py).
        "SERVICEBUS__fullyQualifiedNamespace": values["servicebus_namespace"],
        "SERVICEBUS__clientId": values["client_id"],
        "SERVICEBUS__credential": "managedidentity",
        "AZURE_CLIENT_ID": values["client_id"],
        # What App Service sets for its managed identity endpoint.
        "IDENTITY_ENDPOINT": values["identity_endpoint"],
        "IDENTITY_HEADER": values["identity_header"],
        "WEBSITE_SITE_NAME": f"agentcage-{STAGE}-coordinator",
        # What App Service sets when its Authentication is on (infra turns it on): the principal header
        # is then the platform's.
        "WEBSITE_AUTH_ENABLED": "True",
        # Which callers may use which agent through the MCP gateway (infra's mcp_callers setting).
        env.MCP_CALLERS_ENV: '{"*": "*"}',
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "TZ": "UTC",
        "LANG": "C.UTF-8",
    }
