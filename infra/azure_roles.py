"""The built-in Azure role definitions the program assigns, by id, in one place.

Role definition ids are the same in every tenant (they are Azure's built-ins); they are named here once
and every component that grants one imports it from here.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

__all__ = [
    "SERVICE_BUS_DATA_SENDER",
    "SERVICE_BUS_DATA_RECEIVER",
    "STORAGE_BLOB_DATA_OWNER",
    "KEY_VAULT_SECRETS_USER",
    "MONITORING_METRICS_PUBLISHER",
    "COGNITIVE_SERVICES_OPENAI_USER",
    "ROLE_IDS",
    "role_definition_id",
]

SERVICE_BUS_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
SERVICE_BUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
# Needed for Entra-authenticated ingestion once App Insights local (key) auth is disabled.
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
COGNITIVE_SERVICES_OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"

ROLE_IDS: Mapping[str, str] = {
    "Azure Service Bus Data Sender": SERVICE_BUS_DATA_SENDER,
    "Azure Service Bus Data Receiver": SERVICE_BUS_DATA_RECEIVER,
    "Storage Blob Data Owner": STORAGE_BLOB_DATA_OWNER,
    "Key Vault Secrets User": KEY_VAULT_SECRETS_USER,
    "Monitoring Metrics Publisher": MONITORING_METRICS_PUBLISHER,
    "Cognitive Services OpenAI User": COGNITIVE_SERVICES_OPENAI_USER,
}
"""Display name -> role definition id, for every built-in role the program assigns."""


def role_definition_id(subscription_id: pulumi.Input[str], role_id: str) -> pulumi.Output[str]:
    """The full resource id of a built-in Azure role definition."""
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role_id
    )
