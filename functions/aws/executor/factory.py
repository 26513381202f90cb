"""Building the executor from its configuration: every part injectable, each default built on demand.

Precedence, as everywhere: an explicit argument, then the environment (``AGENTCAGE_LEDGER_BACKEND``
and ``AGENTCAGE_LEDGER_TABLE`` for the ledger, whose circuit breakers come from
``AGENTCAGE_BUDGET_CONFIG``, ``AGENTCAGE_API_BASE_URL`` for the transport,
``AGENTCAGE_TOOL_RESULTS_QUEUE_URL`` for the results queue, ``AGENTCAGE_ENVIRONMENT``), then the
default. With an API base URL the data services are called through API Gateway with SigV4; without
one (the local runtime) they are called in-process.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from agentcage.constants import API_BASE_URL_ENV
from functions.aws.executor.checks import ExecutionGate
from functions.aws.executor.executor import ExecutorLogger, ToolExecutor
from functions.aws.executor.metrics import PowertoolsToolMetrics, ToolMetrics
from functions.aws.executor.results import ResultPublisher, SqsResultPublisher
from functions.aws.executor.transport import InProcessTransport, ServiceTransport

if TYPE_CHECKING:
    from agentcage.gate import GovernanceGate
    from agentcage.ledger import Ledger

__all__ = ["build_executor", "default_transport"]


def default_transport(base_url: str | None = None) -> ServiceTransport:
    """SigV4 to API Gateway when a base URL is configured, else the in-process transport."""
    url = base_url or os.environ.get(API_BASE_URL_ENV)
    if url:
        from agentcage.transport import SigV4ApiGatewayTransport

        return SigV4ApiGatewayTransport(url)
    return InProcessTransport()


def build_executor(
    *,
    gate: GovernanceGate | None = None,
    ledger: Ledger | None = None,
    transport: ServiceTransport | None = None,
    publisher: ResultPublisher | None = None,
    metrics: ToolMetrics | None = None,
    logger: ExecutorLogger | None = None,
    environment: str | None = None,
) -> ToolExecutor:
    """A :class:`ToolExecutor` with the given parts and defaults for the rest."""
    if gate is None:
        from agentcage.gate import GovernanceGate

        gate = GovernanceGate.default()
    if ledger is None:
        from agentcage.budget import load_budget_config
        from agentcage.ledger import open_ledger

        ledger = open_ledger(budget=load_budget_config())  # its breaker is the stack's
    checks = ExecutionGate(gate, ledger, transport or default_transport(), environment=environment)
    return ToolExecutor(
        checks,
        publisher or SqsResultPublisher(),
        metrics=metrics if metrics is not None else PowertoolsToolMetrics(),
        logger=logger,
    )
