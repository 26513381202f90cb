"""The Function App over a coordinator on SQLite and DynamoDB (moto), with fake queues and bridge."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentcage.approvals import PrincipalSource
from agentcage.federation import FakeServiceBusSender
from tests.functional.azure.azure_support import FakeBridge, Pump, load_app, user_functions
from tests.functional.coordinator.coordinator_support import (
    FakeClock,
    FakeExecutor,
    RecordingNotifier,
    make_coordinator,
    open_test_ledger,
)


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def app() -> Any:
    return load_app()


@pytest.fixture(scope="session")
def registered(app: Any) -> list[Any]:
    """``app.get_functions()``, indexed once for every reader of this app (the SDK refuses a second call)."""
    from agentcage.local.discovery import indexed_functions

    return list(indexed_functions(app))


@pytest.fixture(scope="session")
def functions(registered: list[Any]) -> dict[str, Any]:
    return user_functions(registered)


@dataclass
class Harness:
    """Everything a test drives or inspects."""

    functions: dict[str, Any]
    runtime: Any
    sender: FakeServiceBusSender
    bridge: FakeBridge
    executor: FakeExecutor
    notifier: RecordingNotifier
    pump: Pump
    clock: FakeClock

    @property
    def coordinator(self) -> Any:
        return self.runtime.coordinator


def build_harness(
    functions: dict[str, Any],
    ledger: Any,
    clock: FakeClock,
    *,
    dev_approver: str | None = None,
    principals: PrincipalSource | None = None,
    **coordinator_args: Any,
) -> Harness:
    """The Function App over ``ledger``, behind App Service Authentication (callers are the
    X-MS-CLIENT-PRINCIPAL the requests carry) unless ``principals`` says otherwise."""
    import runtime as function_runtime  # functions/azure/runtime.py, top-level as the host imports it

    notifier = RecordingNotifier()
    coordinator = make_coordinator(ledger, notifier=notifier, **coordinator_args)
    sender, bridge = FakeServiceBusSender(), FakeBridge()
    runtime = function_runtime.Runtime(
        coordinator=coordinator,
        sender=sender,
        bridge_factory=lambda: bridge,
        dev_approver=dev_approver,
        principal_source=principals or PrincipalSource(platform=True),
    )
    function_runtime.set_runtime(runtime)
    executor = FakeExecutor(ledger)
    return Harness(
        functions,
        runtime,
        sender,
        bridge,
        executor,
        notifier,
        Pump(functions, sender, bridge, executor),
        clock,
    )


@pytest.fixture(params=["sqlite", "dynamodb"])
def ledger_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def harness(functions: dict[str, Any], ledger_backend: str, tmp_path: Path) -> Iterator[Harness]:
    import runtime as function_runtime

    clock = FakeClock()
    with open_test_ledger(ledger_backend, clock, tmp_path) as ledger:
        yield build_harness(functions, ledger, clock)
    function_runtime.set_runtime(None)
