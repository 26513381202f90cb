"""The Azure Functions coordinator on Flex Consumption, reached and reaching everything by identity."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, keyvault, storage, web

from agentcage.constants import (
    APP_INSIGHTS_RESOURCE_ID_ENV,
    MANAGED_IDENTITY_CLIENT_ID_ENV,
    MCP_AUTHORIZATION_SERVER_ENV,
    MCP_CALLERS_ENV,
)
from infra.azure_roles import (
    COGNITIVE_SERVICES_OPENAI_USER,
    KEY_VAULT_SECRETS_USER,
    MONITORING_METRICS_PUBLISHER,
    SERVICE_BUS_DATA_RECEIVER,
    SERVICE_BUS_DATA_SENDER,
    STORAGE_BLOB_DATA_OWNER,
    role_definition_id,
)
from infra.config_models import FLEX_INSTANCE_MEMORY_MB

__all__ = ["IdentityRef", "CoordinatorArgs", "Coordinator", "identity_connection_settings"]

_QUEUE_ROLES = {"receive": SERVICE_BUS_DATA_RECEIVER, "send": SERVICE_BUS_DATA_SENDER}
DEPLOYMENT_CONTAINER = "app-package"


@dataclass(frozen=True)
class IdentityRef:
    """The user-assigned managed identity the Function App runs as."""

    resource_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    client_id: pulumi.Output[str]


def identity_connection_settings(
    connection: str, service_key: str, service_value: pulumi.Input[str], client_id: pulumi.Input[str]
) -> dict[str, pulumi.Input[str]]:
    """``<CONNECTION>__<serviceKey>``, ``__credential``, ``__clientId``: an identity-based connection."""
    return {
        f"{connection}__{service_key}": service_value,
        f"{connection}__credential": "managedidentity",
        f"{connection}__clientId": client_id,
    }


@dataclass
class CoordinatorArgs:
    """Inputs of :class:`Coordinator`."""

    prefix: str
    location: str
    resource_group_name: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    tenant_id: str
    identity: IdentityRef
    servicebus_namespace: pulumi.Input[str]  # <name>.servicebus.windows.net
    queue_ids: Mapping[str, pulumi.Output[str]]
    queue_access: Mapping[str, frozenset[str]]  # queue -> {"receive", "send"}, from the bindings
    connections: frozenset[str]  # binding connection prefixes, e.g. {"SERVICEBUS"}
    app_insights_id: pulumi.Input[str]
    app_insights_connection_string: pulumi.Input[str]
    settings: Mapping[str, pulumi.Input[str]]  # the agentcage settings (names from agentcage.constants)
    approval_webhook_setting: str
    approval_webhook_url: pulumi.Output[str] | None  # a secret Output
    maximum_instance_count: int
    instance_memory_mb: int
    deletion_protection: bool
    # The Azure OpenAI account the coordinator calls (created by the stack, or an existing one): its
    # identity gets "Cognitive Services OpenAI User" on exactly that account.
    model_resource_id: pulumi.Input[str] | None = None
    # Which callers may use which agent through the MCP gateway (/api/mcp/{agent}): a JSON object of
    # Entra object id (or "*") -> agent ids (or "*"); "{}" lets nobody in until it is configured.
    mcp_callers: str = "{}"

    def __post_init__(self) -> None:
        if self.instance_memory_mb not in FLEX_INSTANCE_MEMORY_MB:
            raise ValueError(
                f"instance_memory_mb {self.instance_memory_mb}: Flex Consumption runs only "
                f"{list(FLEX_INSTANCE_MEMORY_MB)} MB instances"
            )
        if not 1 <= self.maximum_instance_count <= 1000:
            raise ValueError(f"maximum_instance_count {self.maximum_instance_count}: Flex allows 1-1000")
        try:
            callers = json.loads(self.mcp_callers)
        except ValueError as error:
            raise ValueError(f"mcp_callers is not JSON: {error}") from None
        if not isinstance(callers, dict):
            raise TypeError("mcp_callers must be a JSON object: caller -> agents")
        for caller, agents in callers.items():
            if agents != "*" and not (isinstance(agents, list) and all(isinstance(a, str) for a in agents)):
                raise TypeError(f"mcp_callers: {caller!r} must map to a list of agents or '*'")


class Coordinator(pulumi.ComponentResource):
    """Storage (no shared keys), Flex Consumption plan and app, Key Vault, and its role assignments."""

    app: web.WebApp
    storage_account: storage.StorageAccount
    app_settings: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: CoordinatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("agentcage:azure:Coordinator", name, None, opts)
        unknown = sorted(set(args.queue_access) - set(args.queue_ids))
        if unknown:
            raise ValueError(f"{name}: the functions bind to queues that are not deployed: {unknown}")
        if not args.connections:
            raise ValueError(f"{name}: at least one Service Bus connection name is required")
        self._args = args
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        rg = args.resource_group_name

        self.storage_account = storage.StorageAccount(
            f"{name}st".replace("-", ""),  # storage names allow only lowercase letters and digits
            resource_group_name=rg,
            location=args.location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_blob_public_access=False,
            allow_cross_tenant_replication=False,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            opts=child,
        )
        container = storage.BlobContainer(
            f"{name}-package",
            container_name=DEPLOYMENT_CONTAINER,
            account_name=self.storage_account.name,
            resource_group_name=rg,
            public_access=storage.PublicAccess.NONE,
            opts=child,
        )
        # Owner on the (dedicated) account, not just the package container: the Functions host
        # also keeps its leases and keys in blob containers it creates itself (AzureWebJobsStorage).
        self._grant("storage-blob-owner", STORAGE_BLOB_DATA_OWNER, self.storage_account.id)
        self._grant("appinsights-publisher", MONITORING_METRICS_PUBLISHER, args.app_insights_id)
        for queue, access in sorted(args.queue_access.items()):
            for kind in sorted(access):
                self._grant(f"sb-{kind}-{queue}", _QUEUE_ROLES[kind], args.queue_ids[queue])
        if args.model_resource_id is not None:
            self._grant("openai-user", COGNITIVE_SERVICES_OPENAI_USER, args.model_resource_id)

        settings: dict[str, pulumi.Input[str]] = {
            **identity_connection_settings(
                "AzureWebJobsStorage", "accountName", self.storage_account.name, args.identity.client_id
            ),
            **{
                key: value
                for connection in sorted(args.connections)
                for key, value in identity_connection_settings(
                    connection, "fullyQualifiedNamespace", args.servicebus_namespace, args.identity.client_id
                ).items()
            },
            # Holds only the instrumentation key (an id, not a credential); with local auth disabled on
            # the component, ingestion also needs the Entra token named by the next setting.
            "APPLICATIONINSIGHTS_CONNECTION_STRING": args.app_insights_connection_string,
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": pulumi.Output.concat(
                "Authorization=AAD;ClientId=", args.identity.client_id
            ),
            # The console links a task's trace to its Application Insights query on this component.
            APP_INSIGHTS_RESOURCE_ID_ENV: args.app_insights_id,
            # DefaultAzureCredential / ManagedIdentityCredential pick the user-assigned identity by this.
            MANAGED_IDENTITY_CLIENT_ID_ENV: args.identity.client_id,
            # The MCP gateway's protected-resource metadata names the tenant's Entra issuer (whose
            # tokens App Service Authentication validates in front of the route).
            MCP_AUTHORIZATION_SERVER_ENV: f"https://login.microsoftonline.com/{args.tenant_id}/v2.0",
            MCP_CALLERS_ENV: args.mcp_callers,
            **args.settings,
        }
        if args.approval_webhook_url is not None:
            settings[args.approval_webhook_setting] = self._webhook_reference(args.approval_webhook_url)

        plan = web.AppServicePlan(
            f"{name}-plan",
            resource_group_name=rg,
            location=args.location,
            kind="functionapp",
            reserved=True,  # Linux
            sku=web.SkuDescriptionArgs(name="FC1", tier="FlexConsumption"),
            opts=child,
        )
        package_url = pulumi.Output.concat(
            self.storage_account.primary_endpoints.apply(lambda e: e.blob), container.name
        )
        self.app = web.WebApp(
            f"{name}-app",
            resource_group_name=rg,
            location=args.location,
            kind="functionapp,linux",
            server_farm_id=plan.id,
            https_only=True,
            identity=web.ManagedServiceIdentityArgs(
                type=web.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[args.identity.resource_id],
            ),
            key_vault_reference_identity=args.identity.resource_id,
            site_config=web.SiteConfigArgs(
                app_settings=[web.NameValuePairArgs(name=k, value=v) for k, v in sorted(settings.items())],
                min_tls_version="1.2",
                scm_min_tls_version="1.2",
                ftps_state="Disabled",
                http20_enabled=True,
            ),
            function_app_config=web.FunctionAppConfigArgs(
                deployment=web.FunctionsDeploymentArgs(
                    storage=web.FunctionsDeploymentStorageArgs(
                        type="blobContainer",
                        value=package_url,
                        authentication=web.FunctionsDeploymentStorageAuthenticationArgs(
                            type="UserAssignedIdentity",
                            user_assigned_identity_resource_id=args.identity.resource_id,
                        ),
                    )
                ),
                runtime=web.FunctionsRuntimeArgs(name="python", version="3.12"),
                scale_and_concurrency=web.FunctionsScaleAndConcurrencyArgs(
                    maximum_instance_count=args.maximum_instance_count,
                    instance_memory_mb=args.instance_memory_mb,
                ),
            ),
            opts=child,
        )
        # No publishing passwords: deployments authenticate with Entra (az / func CLI).
        for kind, resource in (("scm", web.WebAppScmAllowed), ("ftp", web.WebAppFtpAllowed)):
            resource(
                f"{name}-no-{kind}-basic-auth",
                allow=False,
                name=self.app.name,
                resource_group_name=rg,
                opts=child,
            )
        self.app_settings = pulumi.Output.all(**settings)
        self.register_outputs({"app_name": self.app.name, "default_host_name": self.app.default_host_name})

    def _grant(self, suffix: str, role_id: str, scope: pulumi.Input[str]) -> authorization.RoleAssignment:
        return authorization.RoleAssignment(
            f"{self._name}-{suffix}",
            principal_id=self._args.identity.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=role_definition_id(self._args.subscription_id, role_id),
            scope=scope,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _webhook_reference(self, url: pulumi.Output[str]) -> pulumi.Output[str]:
        # The URL carries a token: it lives in Key Vault and the app setting is only a reference,
        # resolved by the platform with the user-assigned identity (Key Vault Secrets User).
        args = self._args
        vault = keyvault.Vault(
            f"{self._name}-kv",
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_purge_protection=True if args.deletion_protection else None,
                soft_delete_retention_in_days=90 if args.deletion_protection else 7,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        secret = keyvault.Secret(
            f"{self._name}-approval-webhook",
            resource_group_name=args.resource_group_name,
            vault_name=vault.name,
            secret_name="approval-webhook-url",  # noqa: S106 - the secret's name, not its value
            properties=keyvault.SecretPropertiesArgs(value=pulumi.Output.secret(url)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._grant("kv-secrets-user", KEY_VAULT_SECRETS_USER, secret.id)
        return pulumi.Output.concat("@Microsoft.KeyVault(SecretUri=", secret.properties.secret_uri, ")")
