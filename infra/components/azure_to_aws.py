"""Azure -> AWS: the coordinator's managed identity, trusted by AWS for exactly three roles.

An Entra application whose app ID URI is the token audience (``api://<its client id>`` unless the
stack names one: the form Entra's identifier-URI policy accepts in every tenant), an IAM OIDC provider
for the tenant's v1 issuer (created here, or an existing one looked up: IAM allows one provider per
issuer URL per account), and three roles whose trust policies pin ``aud`` and ``sub`` (the
coordinator identity's object id) with StringEquals:

- bridge: ``sqs:SendMessage`` on the tool-requests queue;
- ledger: exact DynamoDB actions on the ledger table (with Scan, for the approval-expiry timer);
- target reader: ``execute-api:Invoke`` on exactly the GET methods the catalog names as
  ``x-agentcage-target.resolve_with``, so the coordinator can read a target's tags for the policy
  and nothing else of the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_azuread as azuread

from agentcage.errors import ConfigurationError
from infra.iam import COORDINATOR_LEDGER_ACTIONS, Statement, allow, policy_json, web_identity_trust

__all__ = ["AzureToAwsFederationArgs", "AzureToAwsFederation", "check_existing_provider"]

# Fixed namespace so each environment's app role id is stable across runs (Entra needs a GUID).
_APP_ROLE_NAMESPACE = uuid.UUID("5f0d7c1e-8a59-4c52-9d1b-6a1f3f0e2c47")


@dataclass
class AzureToAwsFederationArgs:
    """Inputs of :class:`AzureToAwsFederation`."""

    prefix: str
    tenant_id: str
    # The app ID URI (and so the token audience); None: api://<the application's client id>.
    audience: str | None
    coordinator_principal_id: pulumi.Input[str]
    tool_requests_queue_arn: pulumi.Input[str]
    ledger_table_arn: pulumi.Input[str]
    # The stage ARNs of the catalog's target-resolving GET methods (infra.openapi.target_read_operations).
    target_read_method_arns: Sequence[pulumi.Input[str]]
    # Set when another stack of this account already created the provider for this issuer.
    existing_oidc_provider_arn: str | None = None
    # Audiences of other stacks that share the provider this stack creates.
    extra_audiences: Sequence[str] = field(default_factory=tuple)


def check_existing_provider(
    arn: str, issuer_host_path: str, audience: str, url: str, client_ids: Sequence[str]
) -> str:
    """``arn`` when the looked-up provider serves ``issuer_host_path`` and accepts ``audience``.

    STS refuses a token whose ``aud`` the provider does not list, so a shared provider that lacks this
    stack's audience would deploy fine and fail at the first task; this stops ``pulumi preview`` instead.
    """
    if url.removeprefix("https://") != issuer_host_path:
        raise ConfigurationError(
            f"config agentcage:existingOidcProviderArn: {arn} is for {url}, not https://{issuer_host_path}",
            details={"key": "agentcage:existingOidcProviderArn"},
        )
    if audience not in client_ids:
        raise ConfigurationError(
            "config agentcage:existingOidcProviderArn: the provider does not accept the audience "
            f"{audience}; "
            "add it to agentcage:oidcProviderExtraAudiences of the stack that owns the provider "
            f"(or `aws iam add-client-id-to-open-id-connect-provider --client-id {audience}`)",
            details={"key": "agentcage:existingOidcProviderArn"},
        )
    return arn


class AzureToAwsFederation(pulumi.ComponentResource):
    """The coordinator's managed identity, trusted by AWS for exactly three roles."""

    bridge_role: aws.iam.Role
    ledger_role: aws.iam.Role
    target_reader_role: aws.iam.Role
    provider_arn: pulumi.Output[str]
    audience: pulumi.Output[str]

    def __init__(
        self, name: str, args: AzureToAwsFederationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agentcage:federation:AzureToAws", name, None, opts)
        uuid.UUID(args.tenant_id)  # a malformed tenant would make an issuer nobody signs for
        if not args.target_read_method_arns:
            raise ValueError(f"{name}: the target reader needs at least one method ARN to invoke")
        if args.existing_oidc_provider_arn and args.extra_audiences:
            raise ValueError(f"{name}: extra audiences belong on the stack that creates the provider")
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        app_role_id = str(uuid.uuid5(_APP_ROLE_NAMESPACE, f"{args.prefix}/assume-aws-role"))
        application = azuread.Application(
            f"{name}-app",
            display_name=f"{args.prefix}-aws-federation",
            sign_in_audience="AzureADMyOrg",
            # v1 access tokens: issuer https://sts.windows.net/<tenant>/, aud = the app ID URI.
            api=azuread.ApplicationApiArgs(requested_access_token_version=1),
            app_roles=[
                azuread.ApplicationAppRoleArgs(
                    id=app_role_id,
                    allowed_member_types=["Application"],
                    display_name="Assume the agentcage AWS roles",
                    description="Lets a workload get a token for AWS federation",
                    value="AssumeAwsRole",
                    enabled=True,
                )
            ],
            # The identifier URI is its own resource (below): the default one needs this client id.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["identifierUris"]),
        )
        configured = args.audience
        identifier = azuread.ApplicationIdentifierUri(
            f"{name}-identifier-uri",
            application_id=application.id,
            identifier_uri=application.client_id.apply(lambda client_id: configured or f"api://{client_id}"),
            opts=child,
        )
        # Every consumer of the audience (the provider, the trust policies, the coordinator's token
        # requests) takes it from the identifier URI resource, so none can use it before it exists.
        self.audience = identifier.identifier_uri
        principal = azuread.ServicePrincipal(
            f"{name}-sp", client_id=application.client_id, app_role_assignment_required=True, opts=child
        )
        # With assignment required, only identities given this role can get a token at all.
        azuread.AppRoleAssignment(
            f"{name}-coordinator-assignment",
            app_role_id=app_role_id,
            principal_object_id=args.coordinator_principal_id,
            resource_object_id=principal.object_id,
            opts=child,
        )
        issuer_host_path = f"sts.windows.net/{args.tenant_id}/"
        self.provider_arn = self._oidc_provider_arn(name, args, issuer_host_path)
        trust = policy_json(
            [
                web_identity_trust(
                    self.provider_arn, issuer_host_path, self.audience, args.coordinator_principal_id
                )
            ]
        )
        self.bridge_role = self._federated_role(
            "bridge",
            trust,
            "Azure coordinator -> SQS tool-requests (session named after the task)",
            [allow("SendToolRequests", ["sqs:SendMessage"], [args.tool_requests_queue_arn])],
        )
        self.ledger_role = self._federated_role(
            "ledger",
            trust,
            "Azure coordinator -> the DynamoDB ledger table",
            [allow("LedgerTable", list(COORDINATOR_LEDGER_ACTIONS), [args.ledger_table_arn])],
        )
        self.target_reader_role = self._federated_role(
            "target-reader",
            trust,
            "Azure coordinator -> the catalog's target-resolving GET operations only",
            [allow("ReadTargets", ["execute-api:Invoke"], list(args.target_read_method_arns))],
        )
        self.register_outputs(
            {
                "bridge_role_arn": self.bridge_role.arn,
                "ledger_role_arn": self.ledger_role.arn,
                "target_reader_role_arn": self.target_reader_role.arn,
                "oidc_provider_arn": self.provider_arn,
                "application_client_id": application.client_id,
                "audience": self.audience,
            }
        )

    def _oidc_provider_arn(
        self, name: str, args: AzureToAwsFederationArgs, issuer_host_path: str
    ) -> pulumi.Output[str]:
        existing = args.existing_oidc_provider_arn
        if existing is None:
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-oidc",
                url=f"https://{issuer_host_path}",
                client_id_lists=[self.audience, *args.extra_audiences],
                opts=pulumi.ResourceOptions(parent=self),
            )
            return provider.arn
        found = aws.iam.get_open_id_connect_provider_output(
            arn=existing, opts=pulumi.InvokeOutputOptions(parent=self)
        )

        def checked(pair: list[Any]) -> str:
            result, audience = pair
            return check_existing_provider(
                existing, issuer_host_path, audience, result.url, list(result.client_id_lists or [])
            )

        return pulumi.Output.all(found, self.audience).apply(checked)

    def _federated_role(
        self, purpose: str, trust: pulumi.Output[str], description: str, statements: list[Statement]
    ) -> aws.iam.Role:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-{purpose}-role",
            assume_role_policy=trust,
            max_session_duration=3600,
            description=description,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{self._name}-{purpose}-policy", role=role.name, policy=policy_json(statements), opts=child
        )
        return role
