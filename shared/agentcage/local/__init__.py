"""The local runtime: the whole system on one machine, calling the same function entry points.

:class:`LocalHost` discovers the Azure functions (``function_app.py``) and the Lambdas (the manifest),
routes messages between them through durable SQLite queues with the real services' delivery
semantics (:class:`DurableBroker`), and serves the coordinator's HTTP routes (:class:`LocalHttpServer`).
:class:`ArtifactHost` does the same with each cloud's functions in worker processes over the built
artifacts (``agentcage dev --artifacts``).
"""

from agentcage.local.artifact_host import ArtifactHost
from agentcage.local.broker import Delivery, DurableBroker, QueueKey, StoredMessage
from agentcage.local.config import LocalConfig, app_settings, local_queue_url
from agentcage.local.discovery import (
    AzureFunction,
    HttpRoute,
    LambdaFunction,
    SystemWiring,
    check_wiring,
    discover,
    find_project_root,
)
from agentcage.local.host import LocalHost, running_host
from agentcage.local.server import HEALTH_PATH, LocalHttpServer

__all__ = [
    "LocalHost",
    "ArtifactHost",
    "running_host",
    "LocalConfig",
    "app_settings",
    "local_queue_url",
    "DurableBroker",
    "QueueKey",
    "Delivery",
    "StoredMessage",
    "AzureFunction",
    "LambdaFunction",
    "HttpRoute",
    "SystemWiring",
    "check_wiring",
    "discover",
    "find_project_root",
    "LocalHttpServer",
    "HEALTH_PATH",
]
