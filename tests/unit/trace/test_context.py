"""The bound trace/task context, its restoration, and its place on every log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from agentcage.trace import (
    ContextLogFilter,
    TaskContext,
    TraceContext,
    bind_context,
    bound_context,
    current_context,
    reset_context,
    set_powertools_correlation,
)
from agentcage.trace.context import _current

CTX = TraceContext(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7")


@pytest.fixture(autouse=True)
def _clean_context() -> Iterator[None]:
    token = _current.set(TaskContext())
    yield
    _current.reset(token)


def test_bind_merges_and_reset_restores() -> None:
    outer = bind_context(trace=CTX, task_id="task-1")
    inner = bind_context(step=3, agent_id="agent-a")

    assert current_context() == TaskContext(CTX.trace_id, CTX.span_id, "task-1", 3, "agent-a")
    reset_context(inner)
    assert current_context() == TaskContext(CTX.trace_id, CTX.span_id, "task-1", None, None)
    reset_context(outer)
    assert current_context() == TaskContext()


def test_bound_context_restores_even_after_an_error() -> None:
    seen: list[str | None] = []

    def fail_inside() -> None:
        with bound_context(task_id="task-9"):
            seen.append(current_context().task_id)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()

    assert seen == ["task-9"]
    assert current_context().task_id is None


def test_log_filter_puts_the_context_on_every_record(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("agentcage.test.context")
    caplog.handler.addFilter(ContextLogFilter())

    with (
        bound_context(trace=CTX, task_id="task-7", step=2, agent_id="agent-b"),
        caplog.at_level(logging.INFO),
    ):
        logger.info("hello")
    logger.warning("after")

    first, second = caplog.records
    # The filter adds these attributes at run time; getattr, since LogRecord does not declare them.
    fields = ("trace_id", "task_id", "step", "agent_id")
    assert tuple(getattr(first, name) for name in fields) == (CTX.trace_id, "task-7", 2, "agent-b")
    assert second.__dict__["task_id"] is None


class _RecordingLogger:
    def __init__(self) -> None:
        self.correlation_id: str | None = None
        self.keys: dict[str, object] = {}

    def set_correlation_id(self, value: str | None) -> None:
        self.correlation_id = value

    def append_keys(self, **additional_keys: object) -> None:
        self.keys.update(additional_keys)


def test_powertools_correlation_id_is_the_w3c_trace_id() -> None:
    logger = _RecordingLogger()

    with bound_context(trace=CTX, task_id="task-3", step=1, agent_id="agent-c"):
        set_powertools_correlation(logger)

    assert logger.correlation_id == CTX.trace_id
    assert logger.keys == {"trace_id": CTX.trace_id, "task_id": "task-3", "step": 1, "agent_id": "agent-c"}


def test_real_powertools_logger_takes_the_trace_id() -> None:
    from aws_lambda_powertools import Logger

    logger = Logger(service="agentcage-test")
    with bound_context(trace=CTX, task_id="task-4"):
        set_powertools_correlation(logger)

    assert logger.get_correlation_id() == CTX.trace_id
