"""Between Azure Functions' types and the coordinator: HTTP answers, and queue messages with their retries.

A Service Bus trigger that raises is redelivered (the message is abandoned) until the queue's max
delivery count (``agentcage.topology``), then dead-lettered. A poison message must not leave its task
waiting for ever, so on the LAST delivery, before re-raising, :func:`consume` records the failure:
the trigger's ``on_last_attempt`` when the work failed (every trigger: the task ends ``failed`` with
the error as its reason), and ``fail_task`` when the body is not even a valid envelope, for the task
whose id can be salvaged from it (a JSON object with a ``task_id`` string). A body naming no task
cannot be recorded anywhere: it is logged and dead-lettered, where the dead-letter alert finds it.
``func.ServiceBusMessage.delivery_count`` says which delivery this is (1 = first).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

import azure.functions as func

from agentcage.coordinator import HttpAnswer, Outbox
from agentcage.envelopes import Envelope, parse_envelope
from agentcage.errors import AgentcageError
from agentcage.topology import queue_spec
from agentcage.trace import bound_context

__all__ = [
    "FailTask",
    "consume",
    "describe",
    "headers_of",
    "http_response",
    "is_last_delivery",
    "salvage_task_id",
]

_log = logging.getLogger("agentcage.functions")

E = TypeVar("E", bound=Envelope)


class FailTask(Protocol):
    """``Coordinator.fail_task``: end a task ``failed`` with a reason; returns what to send."""

    def __call__(self, task_id: str, reason: str, *, code: str = ...) -> Outbox:
        """End ``task_id`` failed (a task already ended or unknown is left as it is)."""
        ...


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


def salvage_task_id(body: bytes | str) -> str | None:
    """The ``task_id`` string of a body that failed full parsing, when it is a JSON object naming one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8): nothing to salvage
        return None
    task_id = data.get("task_id") if isinstance(data, dict) else None
    return task_id if isinstance(task_id, str) and task_id else None


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
    fail_task: FailTask | None = None,
) -> None:
    """Parse the envelope, do the work, send what it returns; on failure record it on the last delivery.

    ``on_last_attempt`` records a failure of the work (it knows the envelope); ``fail_task`` records a
    body that never parses, for the task named by its ``task_id`` when one can be salvaged.
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
        if fail_task is not None and is_last_delivery(msg, queue):
            _fail_unreadable(msg, body, error, queue=queue, model=model, fail_task=fail_task, send=send)
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
                try:
                    send(on_last_attempt(envelope, error))
                except Exception:  # noqa: BLE001 - recording the failure must not hide the original error
                    _log.exception("could not record the failure of %s message %s", queue, msg.message_id)
            raise


def _fail_unreadable(
    msg: func.ServiceBusMessage,
    body: bytes,
    error: Exception,
    *,
    queue: str,
    model: type[Envelope],
    fail_task: FailTask,
    send: Callable[[Outbox], None],
) -> None:
    """End the task named by an unreadable message's body; with no task id, only say it dead-letters."""
    task_id = salvage_task_id(body)
    if task_id is None:
        # Nothing names a task to end: Service Bus dead-letters the message after this delivery, where
        # the dead-letter alert and a person find it. Nothing is audited (there is no task to audit on).
        _log.error(
            "%s message %s names no task and is dead-lettered unrecorded: %s",
            queue,
            msg.message_id,
            describe(error),
        )
        return
    reason = (
        f"the {queue} message {msg.message_id} could not be read as a {model.__name__} on any of its "
        f"{msg.delivery_count} deliveries and is dead-lettered: {describe(error)}"
    )
    with bound_context(task_id=task_id):
        try:
            send(fail_task(task_id, reason, code="unreadable_message"))
        except Exception:  # noqa: BLE001 - recording the failure must not hide the original error
            _log.exception("could not record the unreadable %s message %s", queue, msg.message_id)
