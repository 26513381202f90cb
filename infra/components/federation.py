"""Keyless workload identity in both directions.

Azure -> AWS (:class:`AzureToAwsFederation`): an Entra application whose app ID URI is the token
audience, an IAM OIDC provider for the tenant's v1 issuer, and two roles (bridge: send to the
tool-requests queue; ledger: exact DynamoDB actions on the ledger table) whose trust policies pin
``aud`` and ``sub`` (the coordinator identity's object id) with StringEquals.

AWS -> Azure (:class:`AwsToAzureFederation`): IAM outbound web identity federation, the bridge
Lambda's role (the AWS identity Azure trusts), an Entra application with a federated identity
credential for exactly that role ARN and audience ``api://AzureADTokenExchange``, and Service Bus
Data Sender on the tool-results queue only.

The AWS -> Azure side uses an Entra *application* federated credential rather than one on the
user-assigned managed identity: the bridge then has its own principal (granted one role on one
queue) instead of sharing the coordinator's, and the app is not tied to the resource group.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native
import pulumi_azuread as azuread

from infra.iam import LEDGER_ACTIONS, allow, policy_json, service_trust, web_identity_trust

__all__ = [
    "AZURE_TOKEN_EXCHANGE_AUDIENCE",
    "SERVICE_BUS_DATA_SENDER",
    "SERVICE_BUS_DATA_RECEIVER",
    "AzureToAwsFederationArgs",
    "AzureToAwsFederation",
    "AwsToAzureFederationArgs",
    "AwsToAzureFederation",
    "role_definition_id",
]

AZURE_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # noqa: S105 - an audience URI, not a secret
SERVICE_BUS_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
SERVICE_BUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
WEB_IDENTITY_TOKEN_SECONDS = 300
# Fixed namespace so each environment's app role id is stable across runs (Entra needs a GUID).
_APP_ROLE_NAMESPACE = uuid.UUID("5f0d7c1e-8a59-4c52-9d1b-6a1f3f0e2c47")


def role_definition_id(subscription_id: pulumi.Input[str], role_id: str) -> pulumi.Output[str]:
    """The full resource id of a built-in Azure role definition."""
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role_id
    )


@dataclass
class AzureToAwsFederationArgs:
    """Inputs of :class:`AzureToAwsFederation`."""

    prefix: str
    tenant_id: str
    audience: str
    coordinator_principal_id: pulumi.Input[str]
    tool_requests_queue_arn: pulumi.Input[str]
    ledger_table_arn: pulumi.Input[str]


class AzureToAwsFederation(pulumi.ComponentResource):
    """The coordinator's managed identity, trusted by AWS for exactly two roles."""

    bridge_role: aws.iam.Role
    ledger_role: aws.iam.Role

    def __init__(
        self, name: str, args: AzureToAwsFederationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agentcage:federation:AzureToAws", name, None, opts)
        uuid.UUID(args.tenant_id)  # a malformed tenant would make an issuer nobody signs for
        child = pulumi.ResourceOptions(parent=self)
        app_role_id = str(uuid.uuid5(_APP_ROLE_NAMESPACE, f"{args.prefix}/assume-aws-role"))
        application = azuread.Application(
            f"{name}-app",
            display_name=f"{args.prefix}-aws-federation",
            sign_in_audience="AzureADMyOrg",
            identifier_uris=[args.audience],
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
            opts=child,
        )
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
        provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=f"https://{issuer_host_path}", client_id_lists=[args.audience], opts=child
        )
        trust = policy_json(
            [web_identity_trust(provider.arn, issuer_host_path, args.audience, args.coordinator_principal_id)]
        )
        self.bridge_role = aws.iam.Role(
            f"{name}-bridge-role",
            assume_role_policy=trust,
            max_session_duration=3600,
            description="Azure coordinator -> SQS tool-requests (session named after the task)",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-bridge-policy",
            role=self.bridge_role.name,
            policy=policy_json(
                [allow("SendToolRequests", ["sqs:SendMessage"], [args.tool_requests_queue_arn])]
            ),
            opts=child,
        )
        self.ledger_role = aws.iam.Role(
            f"{name}-ledger-role",
            assume_role_policy=trust,
            max_session_duration=3600,
            description="Azure coordinator -> the DynamoDB ledger table",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-ledger-policy",
            role=self.ledger_role.name,
            policy=policy_json([allow("LedgerTable", list(LEDGER_ACTIONS), [args.ledger_table_arn])]),
            opts=child,
        )
        self.audience = args.audience
        self.register_outputs(
            {
                "bridge_role_arn": self.bridge_role.arn,
                "ledger_role_arn": self.ledger_role.arn,
                "oidc_provider_arn": provider.arn,
                "application_client_id": application.client_id,
            }
        )


@dataclass
class AwsToAzureFederationArgs:
    """Inputs of :class:`AwsToAzureFederation`."""

    prefix: str
    subscription_id: pulumi.Input[str]
    results_queue_id: pulumi.Input[str]  # the Service Bus tool-results queue's resource id


class AwsToAzureFederation(pulumi.ComponentResource):
    """The bridge Lambda's role, trusted by Entra to send to one Service Bus queue."""

    bridge_role: aws.iam.Role
    client_id: pulumi.Output[str]
    issuer: pulumi.Output[str]

    def __init__(
        self, name: str, args: AwsToAzureFederationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agentcage:federation:AwsToAzure", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # An account-wide switch: retained on destroy so tearing down one stack does not cut off
        # another stack's bridge in the same account.
        outbound = aws.iam.OutboundWebIdentityFederation(
            f"{name}-outbound", opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        )
        self.bridge_role = aws.iam.Role(
            f"{name}-bridge-lambda-role",
            assume_role_policy=policy_json([service_trust("lambda.amazonaws.com")]),
            description="bridge_to_azure Lambda: its ARN is the subject Entra trusts",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-token-policy",
            role=self.bridge_role.name,
            policy=policy_json(
                [
                    allow(
                        "TokenForEntraOnly",
                        ["sts:GetWebIdentityToken"],
                        ["*"],
                        condition={
                            "ForAllValues:StringEquals": {
                                "sts:IdentityTokenAudience": [AZURE_TOKEN_EXCHANGE_AUDIENCE]
                            },
                            "NumericLessThanEquals": {"sts:DurationSeconds": WEB_IDENTITY_TOKEN_SECONDS},
                        },
                    )
                ]
            ),
            opts=child,
        )
        application = azuread.Application(
            f"{name}-app",
            display_name=f"{args.prefix}-aws-bridge",
            sign_in_audience="AzureADMyOrg",
            opts=child,
        )
        principal = azuread.ServicePrincipal(f"{name}-sp", client_id=application.client_id, opts=child)
        azuread.ApplicationFederatedIdentityCredential(
            f"{name}-fic",
            application_id=application.id,
            display_name=f"{args.prefix}-bridge-lambda",
            description="The AWS bridge_to_azure Lambda role, via IAM outbound identity federation",
            audiences=[AZURE_TOKEN_EXCHANGE_AUDIENCE],
            issuer=outbound.issuer_identifier,
            subject=self.bridge_role.arn,
            opts=child,
        )
        azure_native.authorization.RoleAssignment(
            f"{name}-results-sender",
            principal_id=principal.object_id,
            principal_type="ServicePrincipal",
            role_definition_id=role_definition_id(args.subscription_id, SERVICE_BUS_DATA_SENDER),
            scope=args.results_queue_id,
            description="AWS bridge: send tool results to this queue only",
            opts=child,
        )
        self.client_id = application.client_id
        self.issuer = outbound.issuer_identifier
        self.register_outputs(
            {
                "bridge_role_arn": self.bridge_role.arn,
                "client_id": application.client_id,
                "issuer": self.issuer,
            }
        )
