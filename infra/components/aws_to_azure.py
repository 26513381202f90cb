"""AWS -> Azure: the bridge Lambda's role, trusted by Entra to send to one Service Bus queue.

IAM outbound web identity federation, the bridge Lambda's role (the AWS identity Azure trusts), an
Entra application with a federated identity credential for exactly that role ARN and audience
``api://AzureADTokenExchange``, and Service Bus Data Sender on the tool-results queue only.

It uses an Entra *application* federated credential rather than one on the user-assigned managed
identity: the bridge then has its own principal (granted one role on one queue) instead of sharing the
coordinator's, and the app is not tied to the resource group.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native
import pulumi_azuread as azuread

from agentcage.federation import AZURE_TOKEN_EXCHANGE_AUDIENCE
from infra.azure_roles import SERVICE_BUS_DATA_SENDER, role_definition_id
from infra.iam import allow, policy_json, service_trust

__all__ = ["WEB_IDENTITY_TOKEN_SECONDS", "AwsToAzureFederationArgs", "AwsToAzureFederation"]

WEB_IDENTITY_TOKEN_SECONDS = 300


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
