"""The coordinator's dependencies, built once per Functions worker on first use (never at import time).

Configuration is the app settings infra writes (``agentcage.constants``) plus the identity-based
Service Bus connection ``SERVICEBUS__fullyQualifiedNamespace`` / ``SERVICEBUS__clientId`` that the
triggers bind with, read here too so that sending and receiving use one namespace and one identity.

Why messages are sent with the azure-servicebus SDK and not with Service Bus output bindings: the
Python output binding accepts one ``str``/``bytes`` per invocation and no application properties
(azure-functions ``ServiceBusMessageOutConverter``; Azure/azure-functions-python-library#79 and #281).
A model step emits several tool requests at once, and every message must carry the ``traceparent`` /
``Diagnostic-Id`` application properties; the SDK, authenticated as the same managed identity, does
both, and sets a deterministic ``message_id`` so Service Bus duplicate detection drops re-sends. The
ids are derived from what ``GET /api/tasks/{id}`` does not show (a request's reservation id, the task's
secret nonce: ``agentcage.coordinator.messages``), so nobody can send a message under one first and
have the coordinator's own message dropped as its duplicate.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from agentcage.approvals import PrincipalSource, WebhookFormat, WebhookNotifier
from agentcage.budget import BudgetConfig
from agentcage.constants import (
    AGENT_STEPS_QUEUE,
    APPROVAL_WEBHOOK_FORMAT_ENV,
    APPROVAL_WEBHOOK_URL_ENV,
    DEV_APPROVER_ENV,
    ENVIRONMENT_ENV,
    FEDERATION_AUDIENCE_ENV,
    LEDGER_BACKEND_ENV,
    LEDGER_ROLE_ARN_ENV,
    MANAGED_IDENTITY_CLIENT_ID_ENV,
    TOOL_REQUESTS_QUEUE,
)
from agentcage.coordinator import (
    Coordinator,
    CoordinatorHttp,
    CoordinatorSettings,
    Outbox,
    request_message_id,
    step_message_id,
)
from agentcage.envelopes import dump_envelope
from agentcage.errors import ConfigurationError
from agentcage.federation import ServiceBusSender
from agentcage.trace import ContextLogFilter, TraceContext, inject_servicebus

__all__ = [
    "CONNECTION",
    "SENT_QUEUES",
    "Runtime",
    "ToolRequestBridge",
    "build_runtime",
    "get_runtime",
    "set_runtime",
]

_log = logging.getLogger("agentcage.functions")

CONNECTION = "SERVICEBUS"
"""The identity-based connection every Service Bus binding names (``SERVICEBUS__*`` app settings)."""

SENT_QUEUES: Final = (AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE)
"""The queues :meth:`Runtime.dispatch` sends to with the SDK (no output binding declares them):
the managed identity needs *Azure Service Bus Data Sender* on these, beside the triggers' Receiver."""


class ToolRequestBridge(Protocol):
    """What the ``tool-requests`` trigger sends with (``agentcage.federation.AwsFederatedSqsSender``)."""

    def send(
        self, task_id: str, body: str, trace: TraceContext | str, *, message_id: str | None = None
    ) -> str:
        """Send one tool request to AWS as the task's federated session; raise when not accepted."""
        ...


@dataclass
class Runtime:
    """The coordinator, its HTTP API, and the senders; ``bridge`` is built on first use.

    ``principal_source`` is who callers are (built from the app settings when not given, with
    ``dev_approver`` as the local development approver): the one instance the API, the console
    (``blueprints.http_console``) and the MCP gateway (``agentcage.mcp``) all ask.
    """

    coordinator: Coordinator
    sender: ServiceBusSender
    bridge_factory: Callable[[], ToolRequestBridge]
    dev_approver: str | None = None
    principal_source: PrincipalSource | None = None
    _bridge: ToolRequestBridge | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.principal_source is None:
            self.principal_source = PrincipalSource.from_env(
                environment=self.coordinator.settings.environment, dev_approver=self.dev_approver
            )
        self.http = CoordinatorHttp(self.coordinator, self.dispatch, principals=self.principal_source)

    @property
    def principals(self) -> PrincipalSource:
        """Who callers are: the deployment's one principal source."""
        assert self.principal_source is not None  # set by __post_init__
        return self.principal_source

    @property
    def bridge(self) -> ToolRequestBridge:
        """The sender to AWS (built when the first tool request arrives)."""
        with self._lock:
            if self._bridge is None:
                self._bridge = self.bridge_factory()
            return self._bridge

    def dispatch(self, outbox: Outbox) -> None:
        """Send every message of ``outbox`` (raises TransportError when one is not accepted)."""
        for request in outbox.tool_requests:
            properties = inject_servicebus(request.trace, {"task_id": request.task_id})
            body = dump_envelope(request)
            self.sender.send(TOOL_REQUESTS_QUEUE, body, properties, request_message_id(request))
        for step in outbox.agent_steps:
            properties = inject_servicebus(step.trace, {"task_id": step.task_id})
            message_id = outbox.step_message_ids.get((step.task_id, step.step))
            if message_id is None:  # an outbox built without its task at hand: the ledger's task says
                message_id = step_message_id(self.coordinator.task(step.task_id), step.step)
            self.sender.send(AGENT_STEPS_QUEUE, dump_envelope(step), properties, message_id)


def _managed_identity(client_id: str | None) -> Any:
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def _ledger(env: Mapping[str, str], credential: Any, budget: BudgetConfig) -> Any:
    from agentcage.ledger import open_ledger

    backend = (env.get(LEDGER_BACKEND_ENV) or "").strip().lower()
    environment = (env.get(ENVIRONMENT_ENV) or "").strip().lower()
    if not backend:
        # A ledger on the instance's own disk would be invisible to the AWS executor and lost with the
        # instance: only the local runtime may default to SQLite.
        if environment != "local":
            raise ConfigurationError(
                f"{LEDGER_BACKEND_ENV} is not set; the coordinator needs the shared DynamoDB ledger "
                f"(only {ENVIRONMENT_ENV}=local defaults to SQLite)"
            )
        backend = "sqlite"
    role_arn = env.get(LEDGER_ROLE_ARN_ENV)
    if backend != "dynamodb" or not role_arn:
        return open_ledger(backend, budget=budget)
    from aws_access import federated_client

    audience = env.get(FEDERATION_AUDIENCE_ENV)
    if not audience:
        raise ConfigurationError(f"{LEDGER_ROLE_ARN_ENV} is set but {FEDERATION_AUDIENCE_ENV} is not")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    client = federated_client(
        "dynamodb", role_arn=role_arn, audience=audience, credential=credential, region=region
    )
    return open_ledger("dynamodb", client=client, budget=budget)


def build_runtime(environ: Mapping[str, str] | None = None) -> Runtime:
    """Build everything from the app settings (telemetry first, so the first spans are exported)."""
    from target_reader import target_resolver_from_env

    from agentcage.federation import AwsFederatedSqsSender, AzureServiceBusSender
    from agentcage.gate import GovernanceGate
    from agentcage.models import SCRIPTED_MODEL_NAME, provider_from_config
    from agentcage.telemetry import OpenTelemetryMetricsSink, configure_telemetry

    env = os.environ if environ is None else environ
    client_id = env.get(f"{CONNECTION}__clientId") or env.get(MANAGED_IDENTITY_CLIENT_ID_ENV)
    identity = _managed_identity(client_id)
    # Exported as the coordinator's own identity (Application Insights has local auth off).
    configure_telemetry(credential=identity if client_id else None, environ=env)
    for handler in logging.getLogger().handlers:  # the console lines carry the trace and task ids too
        handler.addFilter(ContextLogFilter())
    namespace = env.get(f"{CONNECTION}__fullyQualifiedNamespace")
    if not namespace:
        raise ConfigurationError(f"{CONNECTION}__fullyQualifiedNamespace is not set")
    webhook = env.get(APPROVAL_WEBHOOK_URL_ENV)
    webhook_format: WebhookFormat = "teams" if env.get(APPROVAL_WEBHOOK_FORMAT_ENV) == "teams" else "slack"
    settings = CoordinatorSettings.from_env(env, free_models=(SCRIPTED_MODEL_NAME,))
    gate = GovernanceGate.default()
    coordinator = Coordinator(
        ledger=_ledger(env, identity, settings.budget),  # one budget file: limits, prices, breaker
        gate=gate,
        model=provider_from_config(credential=identity),
        settings=settings,
        notifier=WebhookNotifier(webhook, webhook_format=webhook_format) if webhook else None,
        # Target tags for the policy, read from the data service as the target reader role.
        targets=target_resolver_from_env(env, gate.catalog, identity),
        metrics=OpenTelemetryMetricsSink(),  # TokensUsed, CostMicroUsd, BreakerTrips -> AppMetrics
    )
    dev_approver = env.get(DEV_APPROVER_ENV)
    return Runtime(
        coordinator=coordinator,
        sender=AzureServiceBusSender(namespace, identity),
        bridge_factory=lambda: AwsFederatedSqsSender(credential=identity, environ=env),
        dev_approver=dev_approver,
        # Built once here from the same settings: the API, the console and the MCP gateway share it.
        principal_source=PrincipalSource.from_env(
            env, environment=settings.environment, dev_approver=dev_approver
        ),
    )


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The worker's runtime, built on the first call."""
    global _runtime  # noqa: PLW0603 - one runtime per worker process, like the host's own clients
    with _runtime_lock:
        if _runtime is None:
            _runtime = build_runtime()
            _log.info("coordinator runtime built")
        return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Use ``runtime`` from now on (the local runtime and tests inject theirs; ``None`` rebuilds lazily)."""
    global _runtime  # noqa: PLW0603 - see get_runtime
    with _runtime_lock:
        _runtime = runtime
