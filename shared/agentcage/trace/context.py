"""The current trace and task, bound with :mod:`contextvars`, and put on every log line.

``bind_context`` returns a token for ``reset_context``; ``bound_context`` is the context-manager form
that restores what was bound before, even on error. Binding merges: fields not named keep their value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from agentcage.monitoring_names import LOG_AGENT_ID, LOG_STEP, LOG_TASK_ID, LOG_TRACE_ID
from agentcage.trace.w3c import TraceContext

__all__ = [
    "SPAN_ID_KEY",
    "ContextLogFilter",
    "CorrelatedLogger",
    "TaskContext",
    "bind_context",
    "bound_context",
    "current_context",
    "reset_context",
    "set_powertools_correlation",
]


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What every log line and audit event carries: trace, span, task, step and agent."""

    trace_id: str | None = None
    span_id: str | None = None
    task_id: str | None = None
    step: int | None = None
    agent_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The bound fields under the names log lines carry them (``None`` for those not bound).

        The names are those of :mod:`agentcage.monitoring_names`, which the saved searches and alert
        rules read: renaming one there renames it on every emitted line too.
        """
        return {
            LOG_TRACE_ID: self.trace_id,
            SPAN_ID_KEY: self.span_id,
            LOG_TASK_ID: self.task_id,
            LOG_STEP: self.step,
            LOG_AGENT_ID: self.agent_id,
        }


SPAN_ID_KEY: Final = "span_id"
"""The key of the bound span id on a log line (no query reads it; a record's own span id is its column)."""


_EMPTY = TaskContext()
_current: ContextVar[TaskContext] = ContextVar("agentcage_task_context", default=_EMPTY)


def current_context() -> TaskContext:
    """What is bound now."""
    return _current.get()


def bind_context(
    *,
    trace: TraceContext | None = None,
    task_id: str | None = None,
    step: int | None = None,
    agent_id: str | None = None,
) -> Token[TaskContext]:
    """Bind the given fields on top of the current context; return the token that undoes it."""
    changes: dict[str, Any] = {}
    if trace is not None:
        changes["trace_id"] = trace.trace_id
        changes["span_id"] = trace.span_id
    if task_id is not None:
        changes["task_id"] = task_id
    if step is not None:
        changes["step"] = step
    if agent_id is not None:
        changes["agent_id"] = agent_id
    return _current.set(replace(_current.get(), **changes))


def reset_context(token: Token[TaskContext]) -> None:
    """Restore what was bound before the ``bind_context`` call that returned ``token``."""
    _current.reset(token)


@contextmanager
def bound_context(
    *,
    trace: TraceContext | None = None,
    task_id: str | None = None,
    step: int | None = None,
    agent_id: str | None = None,
) -> Iterator[TaskContext]:
    """Bind fields for the duration of a ``with`` block, then restore the previous context."""
    token = bind_context(trace=trace, task_id=task_id, step=step, agent_id=agent_id)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


class ContextLogFilter(logging.Filter):
    """A standard logging filter that sets ``trace_id``, ``span_id``, ``task_id``, ``step``, ``agent_id``.

    Add it to a handler, and a format such as ``%(trace_id)s %(task_id)s %(message)s`` works on every
    record; fields not bound are ``None``. Values passed in ``extra=`` win over the bound ones.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        for name, value in _current.get().as_dict().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class CorrelatedLogger(Protocol):
    """The part of Powertools' ``Logger`` this module uses (so the library need not import Powertools)."""

    def set_correlation_id(self, value: str | None) -> None:
        """Set the correlation id on every following log line."""

    def append_keys(self, **additional_keys: object) -> None:
        """Add keys to every following log line."""


def set_powertools_correlation(logger: CorrelatedLogger) -> None:
    """Make a Powertools Logger's correlation id the W3C trace id and add the task fields as keys.

    The trace id is a key of its own too (``trace_id``, as on the Azure side): the saved Logs Insights
    queries filter on it, and ``correlation_id`` is Powertools' name for whatever a caller set.
    """
    bound = _current.get()
    logger.set_correlation_id(bound.trace_id)
    logger.append_keys(
        **{
            LOG_TRACE_ID: bound.trace_id,
            LOG_TASK_ID: bound.task_id,
            LOG_STEP: bound.step,
            LOG_AGENT_ID: bound.agent_id,
        }
    )
