"""Entra authentication in front of the coordinator's HTTP routes (App Service Authentication).

The functions are anonymous by design (``function_app.py``): the platform validates an Entra access
token for this API before a request reaches them, and hands the caller's identity to the routes
(approvals, the MCP gateway at ``/api/mcp/{agent}``) in ``X-MS-CLIENT-PRINCIPAL``. No client secret
is involved: the platform only validates bearer tokens (issuer, audience); it never signs anyone in
itself. The MCP gateway's protected-resource metadata is the one path served without a token.

The API's identifier URI is ``api://<its client id>``, set once the application exists: the one form
Entra's default identifier-URI policy accepts in every tenant (a name like ``api://agentcage-dev`` is
refused where the policy is enforced). Tokens are requested for ``<identifier URI>/tasks`` (the
exported ``coordinator_scope``) and carry the client id as ``aud`` (v2 tokens).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pulumi
import pulumi_azuread as azuread
from pulumi_azure_native import web

__all__ = ["AZURE_CLI_CLIENT_ID", "MCP_METADATA_PATH", "CoordinatorAuthArgs", "CoordinatorAuth"]

# Pre-authorised so `az account get-access-token --scope <api>/tasks` works without a consent prompt.
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
MCP_METADATA_PATH = "/api/mcp/.well-known/oauth-protected-resource"
"""Served unauthenticated (with every agent's document under it): ``agentcage.mcp.gateway``."""
_SCOPE_NAMESPACE = uuid.UUID("0b8f3c55-2d1e-4f7a-9c61-7e3b5d2a4f10")


@dataclass
class CoordinatorAuthArgs:
    """Inputs of :class:`CoordinatorAuth`."""

    prefix: str
    tenant_id: str
    resource_group_name: pulumi.Input[str]
    app_name: pulumi.Input[str]


class CoordinatorAuth(pulumi.ComponentResource):
    """An Entra API registration and the Function App's token validation against it."""

    identifier_uri: pulumi.Output[str]
    scope: pulumi.Output[str]
    client_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: CoordinatorAuthArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agentcage:azure:CoordinatorAuth", name, None, opts)
        uuid.UUID(args.tenant_id)
        child = pulumi.ResourceOptions(parent=self)
        scope_id = str(uuid.uuid5(_SCOPE_NAMESPACE, f"{args.prefix}/tasks"))
        application = azuread.Application(
            f"{name}-api",
            display_name=f"{args.prefix}-coordinator-api",
            sign_in_audience="AzureADMyOrg",
            api=azuread.ApplicationApiArgs(
                requested_access_token_version=2,
                oauth2_permission_scopes=[
                    azuread.ApplicationApiOauth2PermissionScopeArgs(
                        id=scope_id,
                        value="tasks",
                        type="User",
                        enabled=True,
                        admin_consent_display_name="Start tasks and decide approvals",
                        admin_consent_description="Call the agentcage coordinator as the signed-in user",
                        user_consent_display_name="Start tasks and decide approvals",
                        user_consent_description="Call the agentcage coordinator as you",
                    )
                ],
            ),
            # The identifier URI is its own resource (below): it needs the client id this creates.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["identifierUris"]),
        )
        self.client_id = application.client_id
        self.identifier_uri = application.client_id.apply(lambda client_id: f"api://{client_id}")
        identifier = azuread.ApplicationIdentifierUri(
            f"{name}-identifier-uri",
            application_id=application.id,
            identifier_uri=self.identifier_uri,
            opts=child,
        )
        azuread.ServicePrincipal(f"{name}-sp", client_id=application.client_id, opts=child)
        azuread.ApplicationPreAuthorized(
            f"{name}-azure-cli",
            application_id=application.id,
            authorized_client_id=AZURE_CLI_CLIENT_ID,
            permission_ids=[scope_id],
            opts=child,
        )
        web.WebAppAuthSettingsV2(
            f"{name}-settings",
            name=args.app_name,
            resource_group_name=args.resource_group_name,
            platform=web.AuthPlatformArgs(enabled=True),
            global_validation=web.GlobalValidationArgs(
                require_authentication=True,
                unauthenticated_client_action=web.UnauthenticatedClientActionV2.RETURN401,
                # The MCP authorization spec: a client learns where to get a token from the protected-
                # resource metadata, so that document is served without one.
                excluded_paths=[MCP_METADATA_PATH],
            ),
            identity_providers=web.IdentityProvidersArgs(
                azure_active_directory=web.AzureActiveDirectoryArgs(
                    enabled=True,
                    registration=web.AzureActiveDirectoryRegistrationArgs(
                        client_id=application.client_id,
                        open_id_issuer=f"https://login.microsoftonline.com/{args.tenant_id}/v2.0",
                    ),
                    validation=web.AzureActiveDirectoryValidationArgs(
                        allowed_audiences=[self.identifier_uri, application.client_id],
                    ),
                )
            ),
            login=web.LoginArgs(token_store=web.TokenStoreArgs(enabled=False)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[identifier]),
        )
        self.scope = pulumi.Output.concat(identifier.identifier_uri, "/tasks")
        self.register_outputs({"scope": self.scope, "client_id": application.client_id})
