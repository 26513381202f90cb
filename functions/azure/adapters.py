"""Between Azure Functions' types and the coordinator: HTTP answers, and queue messages with their retries.

A Service Bus trigger that raises is redelivered (the message is abandoned) until the queue's max
delivery count (``agentcage.topology``), then dead-lettered. A poison message must not leave its task
waiting for ever, so on the LAST delivery, before re-raising, :func:`consume` may end the task: the
trigger's ``on_last_attempt`` runs only when ``vouch`` says the ledger shows the envelope is the
coordinator's own (``Coordinator.vouches_for_*``). A message's own claims never end a task: anyone with
send rights on a queue can name any task. So a body that is not even a valid envelope, and a valid one
the ledger does not vouch for, are logged (with the :data:`UNREADABLE_MESSAGES_METRIC` /
:data:`UNVOUCHED_MESSAGES_METRIC` counters) and dead-lettered, where the dead-letter alert and a person
find them. ``func.ServiceBusMessage.delivery_count`` says which delivery this is (1 = first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import azure.functions as func

from agentcage.coordinator import HttpAnswer, Outbox
from agentcage.envelopes import Envelope, parse_envelope
from agentcage.errors import AgentcageError
from agentcage.monitoring_names import (
    METRIC_DIMENSION_REASON,
    METRIC_UNREADABLE_MESSAGES,
    METRIC_UNVOUCHED_MESSAGES,
    METRICS_NAMESPACE,
)
from agentcage.topology import queue_spec
from agentcage.trace import bound_context

__all__ = [
    "UNREADABLE_MESSAGES_METRIC",
    "UNVOUCHED_MESSAGES_METRIC",
    "consume",
    "describe",
    "headers_of",
    "http_response",
    "is_last_delivery",
]

_log = logging.getLogger("agentcage.functions")

E = TypeVar("E", bound=Envelope)


UNREADABLE_MESSAGES_METRIC = METRIC_UNREADABLE_MESSAGES
"""Counter of last deliveries of bodies that are not a valid envelope (dead-lettered, no task ended)."""
UNVOUCHED_MESSAGES_METRIC = METRIC_UNVOUCHED_MESSAGES
"""Counter of last deliveries the ledger does not vouch for (dead-lettered, no task ended)."""

_counters: dict[str, Any] = {}


def _count(name: str, queue: str) -> None:
    """Add one to counter ``name`` (OpenTelemetry; a no-op until ``configure_telemetry`` set a provider)."""
    from opentelemetry import metrics as otel_metrics

    counter = _counters.get(name)
    if counter is None:
        counter = otel_metrics.get_meter(METRICS_NAMESPACE).create_counter(name, unit="1")
        _counters[name] = counter
    counter.add(1, attributes={METRIC_DIMENSION_REASON: queue})


def http_response(answer: HttpAnswer) -> func.HttpResponse:
    """The Functions response for a coordinator answer (JSON, its status and headers)."""
    return func.HttpResponse(
        answer.text(), status_code=answer.status, headers=answer.headers, mimetype="application/json"
    )


def headers_of(req: func.HttpRequest) -> dict[str, str]:
    """The request headers as a plain dict."""
    return {str(key): str(value) for key, value in req.headers.items()}


def is_last_delivery(msg: func.ServiceBusMessage, queue: str) -> bool:
    """Whether this delivery is the queue's last before the message is dead-lettered."""
    count = msg.delivery_count or 1
    return count >= queue_spec(queue, "azure").max_deliveries


def describe(error: Exception) -> str:
    """``code: message`` of a library error, the class name of anything else (no internals in reasons)."""
    return f"{error.code}: {error.message}" if isinstance(error, AgentcageError) else type(error).__name__


def consume(
    msg: func.ServiceBusMessage,
    model: type[E],
    work: Callable[[E], Outbox | None],
    send: Callable[[Outbox], None],
    *,
    queue: str,
    on_last_attempt: Callable[[E, Exception], Outbox] | None = None,
    vouch: Callable[[E], bool] | None = None,
) -> None:
    """Parse the envelope, do the work, send what it returns; on failure record it on the last delivery.

    ``on_last_attempt`` records a failure of the work (it knows the envelope), and runs only when
    ``vouch(envelope)`` says the ledger shows the envelope is the coordinator's own. A body that never
    parses ends no task: it is logged, counted and dead-lettered.
    """
    body = msg.get_body()
    try:
        envelope = parse_envelope(model, body)
    except Exception as error:
        _log.warning(
            "%s message %s is not a %s (delivery %s): %s",
            queue,
            msg.message_id,
            model.__name__,
            msg.delivery_count,
            describe(error),
        )
        if is_last_delivery(msg, queue):
            _count(UNREADABLE_MESSAGES_METRIC, queue)
            _log.error(
                "%s message %s could not be read as a %s on any of its %s deliveries; dead-lettered, "
                "no task ended (a message's own claims end nothing): %s",
                queue,
                msg.message_id,
                model.__name__,
                msg.delivery_count,
                describe(error),
            )
        raise
    task_id = getattr(envelope, "task_id", None)
    trace = getattr(envelope, "trace", None)
    with bound_context(trace=trace, task_id=task_id):
        try:
            outbox = work(envelope)
            if outbox:
                send(outbox)
        except Exception as error:
            code = error.code if isinstance(error, AgentcageError) else type(error).__name__
            _log.warning(
                "%s message %s failed (delivery %s): %s", queue, msg.message_id, msg.delivery_count, code
            )
            if on_last_attempt is not None and is_last_delivery(msg, queue):
                _record_last_attempt(
                    msg, envelope, error, queue=queue, on_last_attempt=on_last_attempt, vouch=vouch, send=send
                )
            raise


def _record_last_attempt(
    msg: func.ServiceBusMessage,
    envelope: E,
    error: Exception,
    *,
    queue: str,
    on_last_attempt: Callable[[E, Exception], Outbox],
    vouch: Callable[[E], bool] | None,
    send: Callable[[Outbox], None],
) -> None:
    """End the envelope's task through ``on_last_attempt`` if the ledger vouches for it; else log it."""
    try:
        if vouch is None or not vouch(envelope):
            _count(UNVOUCHED_MESSAGES_METRIC, queue)
            _log.error(
                "%s message %s failed on every delivery and the ledger does not vouch for it; "
                "dead-lettered, no task ended: %s",
                queue,
                msg.message_id,
                describe(error),
            )
            return
        send(on_last_attempt(envelope, error))
    except Exception:  # noqa: BLE001 - recording the failure must not hide the original error
        _log.exception("could not record the failure of %s message %s", queue, msg.message_id)
