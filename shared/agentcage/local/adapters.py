"""Hand the functions their in-process cross-cloud senders, through the injection points they offer.

- The tool executor Lambda: ``functions.aws.tool_executor.process_batch(event, context, tool_executor=)``
  with an executor built by ``build_executor`` whose results publisher is the real
  ``SqsResultPublisher`` over :class:`~agentcage.local.bridges.LocalSqsClient` (the data services are
  reached with its default in-process transport, since no API base URL is configured).
- The bridge to Azure: ``functions.aws.bridge_to_azure.process_batch(event, context, sender=)`` with the
  real ``ServiceBusResultSender`` over :class:`~agentcage.local.bridges.BrokerServiceBusSender`.
- The coordinator (``runtime.set_runtime`` in the Function App's script root): the runtime its own
  ``build_runtime`` makes from the app settings, with the Service Bus sender replaced by
  :class:`~agentcage.local.bridges.BrokerServiceBusSender` and its bridge to AWS by the real
  ``AwsFederatedSqsSender`` with a local Entra credential and
  :func:`~agentcage.local.bridges.local_aws_client_factory` (task-named sessions, SQS into the broker).

Everything else the functions build from their app settings, as in the cloud.
"""

from __future__ import annotations

import dataclasses
import importlib
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from agentcage.errors import ToolNotAllowedError, TransportError
from agentcage.local.bridges import (
    BrokerServiceBusSender,
    LocalEntraCredential,
    LocalSqsClient,
    lambda_sender_id,
    local_aws_client_factory,
)
from agentcage.local.broker import DurableBroker
from agentcage.local.discovery import LambdaFunction, SystemWiring

__all__ = ["install_adapters", "install_coordinator", "local_request_sender", "uninstall_coordinator"]

LambdaHandler = Callable[[dict[str, Any], Any], Any]


def _executor_handler(broker: DurableBroker, spec: LambdaFunction) -> LambdaHandler:
    module = importlib.import_module(spec.module)
    from functions.aws.executor import SqsResultPublisher, build_executor

    executor = build_executor(
        metrics=TOOL_METRICS,
        publisher=SqsResultPublisher(client=LocalSqsClient(broker, sender_id=lambda_sender_id(spec.name))),  # type: ignore[arg-type]
        logger=module.logger,
    )

    def handler(event: dict[str, Any], context: Any) -> Any:
        return module.process_batch(event, context, tool_executor=executor)

    return handler


def _bridge_handler(broker: DurableBroker, spec: LambdaFunction) -> LambdaHandler:
    module = importlib.import_module(spec.module)
    from agentcage.federation import ServiceBusResultSender

    sender = ServiceBusResultSender(BrokerServiceBusSender(broker))

    def handler(event: dict[str, Any], context: Any) -> Any:
        return module.process_batch(event, context, sender=sender)

    return handler


class LocalToolMetrics:
    """The executor's metrics counted in memory (EMF documents are for CloudWatch, not a terminal)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def tool_call(self, tool: str, latency_ms: float, *, ok: bool) -> None:  # noqa: ARG002 - the protocol
        """Count a call by tool and outcome."""
        with self._lock:
            self.counts[f"calls:{tool}:{'ok' if ok else 'error'}"] += 1

    def denial(self, tool: str, reason: str) -> None:
        """Count a denial by tool and reason."""
        with self._lock:
            self.counts[f"denials:{tool}:{reason}"] += 1

    def breaker_trip(self, tool: str) -> None:
        """Count a breaker trip."""
        with self._lock:
            self.counts[f"breaker_trips:{tool}"] += 1


TOOL_METRICS = LocalToolMetrics()
"""The local executor's metrics (shown by the health document)."""


# The Lambda modules whose cloud clients the local runtime replaces, and how.
_LAMBDA_ADAPTERS: dict[str, Callable[[DurableBroker, LambdaFunction], LambdaHandler]] = {
    "functions.aws.tool_executor": _executor_handler,
    "functions.aws.bridge_to_azure": _bridge_handler,
}


def local_request_sender(broker: DurableBroker) -> Any:
    """The coordinator's real federated SQS sender, with local identity and a local SQS."""
    from agentcage.federation import AwsFederatedSqsSender

    return AwsFederatedSqsSender(
        credential=LocalEntraCredential(), client_factory=local_aws_client_factory(broker)
    )


def in_process_reader(gate: Any) -> Callable[[str, Mapping[str, Any]], Any]:
    """A ``ToolReader`` calling a read tool's data service in-process, as the executor's transport does."""
    from functions.aws.executor import InProcessTransport, ServiceRequest

    transport = InProcessTransport()

    def read(tool_name: str, args: Mapping[str, Any]) -> Any:
        tool = gate.catalog[tool_name]
        if tool.effect != "read":
            raise ToolNotAllowedError(f"{tool_name} is not a read tool; targets are resolved by reading")
        response = transport.send(ServiceRequest.for_tool(tool, args, {}))
        if not response.ok:
            raise TransportError(f"{tool_name} answered {response.status}: {response.error_message}")
        return response.body

    return read


def install_coordinator(broker: DurableBroker, runtime_module: str = "runtime") -> Any:
    """Build the coordinator's runtime from the app settings, with local senders, and install it.

    Destructive calls need the target's tags as the service reports them; the cloud runtime builds no
    resolver, so every such call is refused there (fail closed). Locally the coordinator reads the
    target in-process with the catalog's ``resolve_with`` tool.
    """
    from agentcage.coordinator import ReadToolTargetResolver

    module = importlib.import_module(runtime_module)
    built = module.build_runtime()
    runtime = dataclasses.replace(
        built, sender=BrokerServiceBusSender(broker), bridge_factory=lambda: local_request_sender(broker)
    )
    runtime.coordinator.targets = ReadToolTargetResolver(in_process_reader(runtime.coordinator.gate))
    module.set_runtime(runtime)
    return runtime


def uninstall_coordinator(runtime_module: str = "runtime") -> None:
    """Forget the installed runtime (the next use would build the cloud one from the settings)."""
    importlib.import_module(runtime_module).set_runtime(None)


def install_adapters(broker: DurableBroker, wiring: SystemWiring) -> SystemWiring:
    """Install the coordinator's runtime; returns the wiring with the Lambdas bound to local senders."""
    install_coordinator(broker)
    lambdas = []
    for spec in wiring.lambdas:
        adapter = _LAMBDA_ADAPTERS.get(spec.module)
        lambdas.append(dataclasses.replace(spec, handler=adapter(broker, spec)) if adapter else spec)
    return dataclasses.replace(wiring, lambdas=tuple(lambdas))
