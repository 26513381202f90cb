"""Lambda ``ledger-sweeper``: on a schedule, return the reservations a dead process abandoned.

A reservation holds budget from ``reserve`` until ``settle``/``release``; when the process between the
two dies (a Lambda timeout, a Function App instance recycled) nothing would ever give it back, and the
task would run out of budget it never spent. :meth:`agentcage.ledger.Ledger.expire_stale` finds every
reservation past its expiry across all tasks, releases the tool calls nobody consumed (they never
ran) and charges, at their reserved upper bound, the ones that may have spent: a consumed tool call
(it may have executed) and a model call whose process died before settling (it may have been
billed). After a sweep no abandoned reservation holds budget, and no spend is left unrecorded. This
handler only calls it, logs the count and emits it as the ``ReservationsExpired`` metric; it is
idempotent, so an overlapping or retried run expires nothing twice.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from agentcage.constants import LOG_LEVEL_ENV, METRIC_RESERVATIONS_EXPIRED, METRICS_NAMESPACE

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from agentcage.ledger import Ledger

__all__ = ["handler", "ledger", "logger", "metrics", "sweep"]

SERVICE = "ledger_sweeper"

logger = Logger(service=SERVICE, level=os.environ.get(LOG_LEVEL_ENV))
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


@functools.cache
def ledger() -> Ledger:
    """The container's ledger (``AGENTCAGE_LEDGER_BACKEND`` / ``AGENTCAGE_LEDGER_TABLE``), opened once."""
    from agentcage.ledger import open_ledger

    return open_ledger()


def sweep(target: Ledger | None = None) -> int:
    """Expire every stale reservation of ``target`` (default: the container's ledger); returns how many."""
    expired = (target or ledger()).expire_stale()
    metrics.add_metric(name=METRIC_RESERVATIONS_EXPIRED, unit=MetricUnit.Count, value=expired)
    if expired:
        logger.warning("returned abandoned reservations", extra={"expired": expired})
    else:
        logger.info("no abandoned reservations")
    return expired


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:  # noqa: ARG001 - a timer event
    """Lambda entry point (``functions.aws.ledger_sweeper.handler``); raising lets the scheduler retry."""
    return {"expired": sweep()}
