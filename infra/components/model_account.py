"""The Azure OpenAI account and model deployment the coordinator calls, reachable by identity only.

Created by the stack (``agentcage:model.create``) so that the endpoint the coordinator calls, the
resource its identity is granted "Cognitive Services OpenAI User" on and the deployment it names are
one resource and cannot disagree. Keys are disabled: every call presents an Entra token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import cognitiveservices

__all__ = ["ModelAccountArgs", "ModelAccount", "custom_subdomain"]


def custom_subdomain(prefix: str, subscription_id: str) -> str:
    """The account's ``<name>.openai.azure.com`` host label: global, so made unique per subscription."""
    digest = hashlib.sha256(subscription_id.lower().encode()).hexdigest()[:8]
    return f"{prefix}-{digest}"


@dataclass
class ModelAccountArgs:
    """Inputs of :class:`ModelAccount`."""

    prefix: str
    location: str
    resource_group_name: pulumi.Input[str]
    subdomain: str
    deployment: str  # the name the coordinator calls (AGENTCAGE_MODEL_DEPLOYMENT)
    model: str
    version: str
    sku: str  # GlobalStandard | DataZoneStandard | Standard
    capacity: int  # thousands of tokens per minute

    def __post_init__(self) -> None:
        if not 2 <= len(self.subdomain) <= 64 or not self.subdomain.replace("-", "").isalnum():
            raise ValueError(f"subdomain {self.subdomain!r}: 2-64 letters, digits and hyphens")
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1 (thousand tokens per minute)")


class ModelAccount(pulumi.ComponentResource):
    """An Azure OpenAI account (local auth off) and one pinned model deployment."""

    account: cognitiveservices.Account
    deployment: cognitiveservices.Deployment
    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: ModelAccountArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("agentcage:azure:ModelAccount", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = cognitiveservices.Account(
            f"{name}-account",
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="OpenAI",
            sku=cognitiveservices.SkuArgs(name="S0"),
            properties=cognitiveservices.AccountPropertiesArgs(
                # Entra tokens need a custom subdomain; it is also the endpoint's host.
                custom_sub_domain_name=args.subdomain,
                disable_local_auth=True,
                public_network_access="Enabled",
            ),
            opts=child,
        )
        self.deployment = cognitiveservices.Deployment(
            f"{name}-deployment",
            resource_group_name=args.resource_group_name,
            account_name=self.account.name,
            deployment_name=args.deployment,
            properties=cognitiveservices.DeploymentPropertiesArgs(
                model=cognitiveservices.DeploymentModelArgs(
                    format="OpenAI", name=args.model, version=args.version
                ),
            ),
            sku=cognitiveservices.SkuArgs(name=args.sku, capacity=args.capacity),
            opts=child,
        )
        self.endpoint = self.account.properties.apply(lambda properties: properties.endpoint)
        self.register_outputs(
            {"account_id": self.account.id, "endpoint": self.endpoint, "deployment": args.deployment}
        )
