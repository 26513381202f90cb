"""Between Azure Functions' types and the coordinator: HTTP answers, and queue messages with their retries.

A Service Bus trigger that raises is redelivered (the message is abandoned) until the queue's max
delivery count (``agentcage.topology``), then dead-lettered. A poison message must not leave its task
waiting for ever, so on the LAST delivery, before re-raising, :func:`consume` runs the trigger's
``on_last_attempt`` (for ``agent-steps`` and ``tool-results``: the task ends ``failed`` with the error
as its reason). ``func.ServiceBusMessage.delivery_count`` says which delivery this is (1 = first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import azure.functions as func

from agentcage.coordinator import HttpAnswer, Outbox
from agentcage.envelopes import Envelope, parse_envelope
from agentcage.errors import AgentcageError
from agentcage.topology import queue_spec
from agentcage.trace import bound_context

__all__ = ["consume", "headers_of", "http_response", "is_last_delivery"]

_log = logging.getLogger("agentcage.functions")

E = TypeVar("E", bound=Envelope)


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


def consume(
    msg: func.ServiceBusMessage,
    model: type[E],
    work: Callable[[E], Outbox | None],
    send: Callable[[Outbox], None],
    *,
    queue: str,
    on_last_attempt: Callable[[E, Exception], Outbox] | None = None,
) -> None:
    """Parse the envelope, do the work, send what it returns; on failure record it on the last delivery."""
    envelope = parse_envelope(model, msg.get_body())  # malformed: raises, and is dead-lettered in the end
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
                try:
                    send(on_last_attempt(envelope, error))
                except Exception:  # noqa: BLE001 - recording the failure must not hide the original error
                    _log.exception("could not record the failure of %s message %s", queue, msg.message_id)
            raise
