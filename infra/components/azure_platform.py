"""The Azure platform the coordinator runs on: resource group, its managed identity, Log Analytics,
workspace-based Application Insights and the Service Bus namespace with the three queues."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import (
    applicationinsights,
    managedidentity,
    operationalinsights,
    resources,
    servicebus,
)

from agentcage.topology import QueueSpec

__all__ = ["AzurePlatformArgs", "AzurePlatform"]


@dataclass
class AzurePlatformArgs:
    """Inputs of :class:`AzurePlatform`."""

    prefix: str
    location: str
    workspace_retention_days: int
    # Delivery settings of the Service Bus queues (agentcage.topology), one per queue name.
    queues: Sequence[QueueSpec]
    # How long a message may wait before it is dead-lettered (ISO 8601).
    message_time_to_live: str = "P1D"
    # The coordinator sets deterministic message ids; within this window a re-send is dropped.
    duplicate_detection_window: str = "PT10M"


class AzurePlatform(pulumi.ComponentResource):
    """Identity, telemetry and messaging; nothing here accepts a key or a SAS."""

    resource_group: resources.ResourceGroup
    identity: managedidentity.UserAssignedIdentity
    workspace: operationalinsights.Workspace
    app_insights: applicationinsights.Component
    namespace: servicebus.Namespace
    queues: dict[str, servicebus.Queue]

    def __init__(
        self, name: str, args: AzurePlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agentcage:azure:Platform", name, None, opts)
        if not 30 <= args.workspace_retention_days <= 730:
            raise ValueError(f"{name}: workspace_retention_days must be 30-730")
        names = [spec.name for spec in args.queues]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"{name}: queues must be distinct and not empty")
        if any(not 5 <= spec.lock_seconds <= 300 for spec in args.queues):
            raise ValueError(f"{name}: a Service Bus lock lasts 5-300 seconds")
        child = pulumi.ResourceOptions(parent=self)
        self.resource_group = resources.ResourceGroup(
            f"{name}-rg", resource_group_name=f"{args.prefix}-rg", location=args.location, opts=child
        )
        rg = self.resource_group.name
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_group_name=rg, location=args.location, opts=child
        )
        self.workspace = operationalinsights.Workspace(
            f"{name}-logs",
            resource_group_name=rg,
            location=args.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=args.workspace_retention_days,
            opts=child,
        )
        self.app_insights = applicationinsights.Component(
            f"{name}-appinsights",
            resource_group_name=rg,
            location=args.location,
            kind="web",
            application_type="web",
            workspace_resource_id=self.workspace.id,
            ingestion_mode="LogAnalytics",
            # Ingestion must present an Entra token: the connection string alone is not enough.
            disable_local_auth=True,
            opts=child,
        )
        self.namespace = servicebus.Namespace(
            f"{name}-servicebus",
            resource_group_name=rg,
            location=args.location,
            sku=servicebus.SBSkuArgs(name=servicebus.SkuName.STANDARD, tier=servicebus.SkuTier.STANDARD),
            disable_local_auth=True,
            minimum_tls_version="1.2",
            opts=child,
        )
        # Unprefixed: the namespace is per stack, and these are the names the functions bind to.
        self.queues = {
            spec.name: servicebus.Queue(
                f"{name}-{spec.name}",
                queue_name=spec.name,
                namespace_name=self.namespace.name,
                resource_group_name=rg,
                dead_lettering_on_message_expiration=True,
                max_delivery_count=spec.max_deliveries,
                default_message_time_to_live=args.message_time_to_live,
                lock_duration=f"PT{spec.lock_seconds}S",
                requires_duplicate_detection=True,
                duplicate_detection_history_time_window=args.duplicate_detection_window,
                opts=child,
            )
            for spec in args.queues
        }
        self.fully_qualified_namespace = self.namespace.name.apply(lambda n: f"{n}.servicebus.windows.net")
        self.register_outputs(
            {
                "resource_group": rg,
                "identity_client_id": self.identity.client_id,
                "servicebus_namespace": self.fully_qualified_namespace,
            }
        )
