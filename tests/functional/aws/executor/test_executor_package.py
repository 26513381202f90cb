"""The executor package's public API, and the X-Ray annotations the handler puts on each request."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest

import functions.aws.executor as executor_package
from functions.aws import tool_executor
from tests.functional.aws.executor.executor_support import ExecutorWorld, batch, record_for


def test_the_package_exports_exactly_its_public_classes_and_functions() -> None:
    exported = set(executor_package.__all__)
    assert len(exported) == len(executor_package.__all__)
    defined: set[str] = set()
    for info in pkgutil.iter_modules(executor_package.__path__, prefix="functions.aws.executor."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name}"
            defined.add(name)
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and value.__module__ == info.name
        }
        assert public <= set(module.__all__), f"{info.name} does not export {public - set(module.__all__)}"
    assert exported == defined
    assert all(hasattr(executor_package, name) for name in exported)


class RecordingSubsegment:
    def __init__(self, annotations: dict[str, Any]) -> None:
        self.annotations = annotations

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


class RecordingProvider:
    def __init__(self) -> None:
        self.segments: list[tuple[str, dict[str, Any]]] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: str) -> Iterator[RecordingSubsegment]:
        annotations: dict[str, Any] = {}
        self.segments.append((name, annotations))
        yield RecordingSubsegment(annotations)


def test_each_request_gets_a_subsegment_annotated_with_task_and_tool(
    world: ExecutorWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(tool_executor.tracer, "provider", provider)
    record = world.prepare(record_for("sqs_tool_requests_returns", "getCustomer"))

    tool_executor.process_batch(batch(record), tool_executor=world.executor)

    assert provider.segments == [
        ("## tool_request", {"task_id": "task-returns-0001", "tool": "getCustomer", "status": "ok"})
    ]
