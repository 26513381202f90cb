"""Entra authentication in front of the coordinator's HTTP routes (App Service Authentication).

The functions are anonymous by design (``function_app.py``): the platform authenticates each request
before it reaches them, and hands the caller's identity to the routes (approvals, the console, the MCP
gateway at ``/api/mcp/{agent}``) in ``X-MS-CLIENT-PRINCIPAL``. Two kinds of caller, no client secret:

- **Programs** (the CLI, MCP clients, automations) send an Entra access token for this API; the platform
  validates it (issuer, audience). A request with neither token nor session gets 401, which is what an
  API or MCP client needs; the MCP gateway's protected-resource metadata is the one path served without.
- **People** (the approval console) sign in through the platform's ``/.auth/login/aad`` endpoint: it
  sends the browser to Entra for an ID token, returned by ``form_post`` to
  ``https://<app host>/.auth/login/aad/callback`` (the app registration's one web redirect URI, with ID
  token issuance on: the flow the platform uses when it has no client secret), and keeps the person in a
  session cookie. Every link handed to a person goes through that endpoint with the console page as a
  relative ``post_login_redirect_uri`` (``agentcage.approvals.notice.console_url``); no external
  redirect URL is allowed, so sign-in only ever lands on this app.

The API's identifier URI is ``api://<its client id>``, set once the application exists: the one form
Entra's default identifier-URI policy accepts in every tenant (a name like ``api://agentcage-dev`` is
refused where the policy is enforced). Tokens are requested for ``<identifier URI>/tasks`` (the
exported ``coordinator_scope``) and carry the client id as ``aud`` (v2 tokens; an ID token's ``aud`` is
the client id too).

**MCP clients and the platform's 401.** The platform answers a request without a token itself, with
a bare 401, before the gateway could add its ``WWW-Authenticate: Bearer resource_metadata=...``
challenge. Excluding ``/api/mcp/*`` would let the gateway answer, but the platform documents excluded
paths only as "not redirected to login" and not whether it still validates a presented token and
forwards ``X-MS-CLIENT-PRINCIPAL`` there; the gateway would then see no principal for a real caller, or
(worse, were the header trusted without the platform) a forged one. So the MCP route stays behind
required authentication (the gateway trusts the header only where ``WEBSITE_AUTH_ENABLED`` says the
platform is on: ``agentcage.approvals.principal.PrincipalSource``), and only the gateway's metadata
documents -- bare and per agent, exact paths -- are excluded. A client is configured with the
authorization server (``https://login.microsoftonline.com/<tenant>/v2.0``) and the scope (the stack's
``coordinator_scope``), or reads them from ``/api/mcp/.well-known/oauth-protected-resource/<agent>``
(infra/DEPLOY.md, "MCP clients").
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_azuread as azuread
from pulumi_azure_native import web

from agentcage.approvals.notice import SIGN_IN_PATH

__all__ = [
    "AZURE_CLI_CLIENT_ID",
    "MCP_METADATA_PATH",
    "SIGN_IN_CALLBACK_PATH",
    "SESSION_HOURS",
    "CoordinatorAuthArgs",
    "CoordinatorAuth",
    "app_role_id",
    "sign_in_redirect_uri",
    "unauthenticated_paths",
]

# Pre-authorised so `az account get-access-token --scope <api>/tasks` works without a consent prompt.
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
MCP_METADATA_PATH = "/api/mcp/.well-known/oauth-protected-resource"
"""Served unauthenticated (with every agent's document under it): ``agentcage.mcp.gateway``."""
SIGN_IN_CALLBACK_PATH = f"{SIGN_IN_PATH}/callback"
"""Where Entra posts a person's ID token back to App Service Authentication."""
SESSION_HOURS = 8
"""A person's console session lasts a working day, then they sign in again (fixed, not sliding)."""
_NONCE_MINUTES = 5  # a sign-in left open longer than this starts over
_SCOPE_NAMESPACE = uuid.UUID("0b8f3c55-2d1e-4f7a-9c61-7e3b5d2a4f10")


@dataclass
class CoordinatorAuthArgs:
    """Inputs of :class:`CoordinatorAuth`."""

    prefix: str
    tenant_id: str
    resource_group_name: pulumi.Input[str]
    app_name: pulumi.Input[str]
    host_name: pulumi.Input[str]
    """The Function App's default host name (``<name>...azurewebsites.net``): where people sign in."""
    app_roles: Mapping[str, str] = field(default_factory=dict)
    """Role (the ``roles`` claim's value) -> what it means: the roles the code reads
    (``infra.config_models.AccessSettings``), assignable to people in the enterprise application."""
    mcp_agents: tuple[str, ...] = ()
    """The agents the app serves over MCP: each one's protected-resource metadata needs no token."""


def unauthenticated_paths(mcp_agents: tuple[str, ...]) -> list[str]:
    """The paths App Service Authentication lets through without a token: the gateway's
    protected-resource metadata, bare and per agent (the document its 401 challenge names). Exact
    paths: the platform documents no wildcard or prefix semantics for excluded paths."""
    return [MCP_METADATA_PATH, *(f"{MCP_METADATA_PATH}/{agent}" for agent in sorted(set(mcp_agents)))]


def app_role_id(prefix: str, role: str) -> str:
    """A role's stable id: the same role of the same stack keeps its id across runs (Entra refuses to
    change an enabled role's id), a role of another stack gets another."""
    return str(uuid.uuid5(_SCOPE_NAMESPACE, f"{prefix}/role/{role}"))


def sign_in_redirect_uri(host_name: str) -> str:
    """The app registration's web redirect URI: the platform's sign-in callback on the app's host."""
    return f"https://{host_name}{SIGN_IN_CALLBACK_PATH}"


class CoordinatorAuth(pulumi.ComponentResource):
    """An Entra registration of the API and of the console's sign-in, and the Function App's
    authentication against it (tokens for programs, a session for people)."""

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
            # The roles the code reads reach it only as the `roles` claim of a person's token (access
            # and ID tokens alike): each is an app role people are assigned (infra/DEPLOY.md).
            app_roles=[
                azuread.ApplicationAppRoleArgs(
                    id=app_role_id(args.prefix, role),
                    value=role,
                    display_name=role,
                    description=description,
                    allowed_member_types=["User"],
                    enabled=True,
                )
                for role, description in sorted(args.app_roles.items())
            ],
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
            # People sign in to the console: the platform asks for an ID token alone (no client
            # secret, so no code exchange) and Entra posts it to the callback on the app's own host.
            web=azuread.ApplicationWebArgs(
                redirect_uris=[pulumi.Output.from_input(args.host_name).apply(sign_in_redirect_uri)],
                implicit_grant=azuread.ApplicationWebImplicitGrantArgs(
                    id_token_issuance_enabled=True, access_token_issuance_enabled=False
                ),
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
                # 401, not a redirect: API and MCP clients must see it. A person is sent to the sign-in
                # endpoint by the links they are given (the /.auth paths are the platform's own, always
                # reachable). The MCP authorization spec: a client learns where to get a token from the
                # protected-resource metadata, so that document is served without one.
                excluded_paths=unauthenticated_paths(args.mcp_agents),
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
            login=web.LoginArgs(
                # The session cookie carries the signed-in person; nothing keeps Entra's tokens.
                token_store=web.TokenStoreArgs(enabled=False),
                # After sign-in, only this app's own pages: no external URL may be a redirect target.
                allowed_external_redirect_urls=[],
                preserve_url_fragments_for_logins=False,
                cookie_expiration=web.CookieExpirationArgs(
                    convention=web.CookieExpirationConvention.FIXED_TIME,
                    time_to_expiration=f"{SESSION_HOURS:02d}:00:00",
                ),
                nonce=web.NonceArgs(
                    validate_nonce=True, nonce_expiration_interval=f"00:{_NONCE_MINUTES:02d}:00"
                ),
            ),
            # The session cookie and the ID token travel over HTTPS only.
            http_settings=web.HttpSettingsArgs(require_https=True),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[identifier]),
        )
        self.scope = pulumi.Output.concat(identifier.identifier_uri, "/tasks")
        self.register_outputs({"scope": self.scope, "client_id": application.client_id})
