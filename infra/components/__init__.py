"""One ComponentResource per module, each with a typed ``Args`` dataclass beside it."""

from infra.components.api_gateway import RestApiGateway, RestApiGatewayArgs
from infra.components.aws_monitoring import AwsMonitoring, AwsMonitoringArgs
from infra.components.aws_state import AwsState, AwsStateArgs
from infra.components.aws_to_azure import AwsToAzureFederation, AwsToAzureFederationArgs
from infra.components.azure_monitoring import AzureMonitoring, AzureMonitoringArgs
from infra.components.azure_platform import AzurePlatform, AzurePlatformArgs
from infra.components.azure_to_aws import AzureToAwsFederation, AzureToAwsFederationArgs
from infra.components.coordinator import Coordinator, CoordinatorArgs, IdentityRef
from infra.components.coordinator_auth import CoordinatorAuth, CoordinatorAuthArgs
from infra.components.service_function import (
    QueueTrigger,
    ScheduleTrigger,
    ServiceFunction,
    ServiceFunctionArgs,
)

__all__ = [
    "AzurePlatform",
    "AzurePlatformArgs",
    "Coordinator",
    "CoordinatorArgs",
    "IdentityRef",
    "CoordinatorAuth",
    "CoordinatorAuthArgs",
    "AwsState",
    "AwsStateArgs",
    "ServiceFunction",
    "ServiceFunctionArgs",
    "QueueTrigger",
    "ScheduleTrigger",
    "RestApiGateway",
    "RestApiGatewayArgs",
    "AzureToAwsFederation",
    "AzureToAwsFederationArgs",
    "AwsToAzureFederation",
    "AwsToAzureFederationArgs",
    "AwsMonitoring",
    "AwsMonitoringArgs",
    "AzureMonitoring",
    "AzureMonitoringArgs",
]
