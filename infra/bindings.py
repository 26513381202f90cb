"""What the coordinator's functions bind to, read from the function code itself.

The Service Bus queues and the identity-based connection settings the program deploys must be the
ones ``functions/azure/function_app.py`` binds to. This module imports the function app (Python v2
programming model) and reads each function's bindings (``serviceBusTrigger`` = receive,
``serviceBus`` = send), so the infra tests can assert infra == code instead of restating names.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE
from agentcage.errors import ConfigurationError

__all__ = [
    "FUNCTION_APP_FILE",
    "DEFAULT_CONNECTION",
    "DESIGN_QUEUE_ACCESS",
    "QueueBinding",
    "function_app_path",
    "read_bindings",
    "queue_access",
    "connections",
    "coordinator_queues",
    "sdk_sends",
]

FUNCTION_APP_FILE = Path("functions") / "azure" / "function_app.py"
DEFAULT_CONNECTION = "SERVICEBUS"
_SERVICE_BUS_TYPES: Mapping[str, Literal["receive", "send"]] = {
    "serviceBusTrigger": "receive",
    "serviceBus": "send",
}

# What DESIGN.md draws, used only while functions/azure/function_app.py does not exist yet:
# agent-steps -> (model step) -> tool-requests -> bridge_to_aws; tool-results -> agent-steps.
DESIGN_QUEUE_ACCESS: Mapping[str, frozenset[str]] = {
    AGENT_STEPS_QUEUE: frozenset({"receive", "send"}),
    TOOL_REQUESTS_QUEUE: frozenset({"receive", "send"}),
    TOOL_RESULTS_QUEUE: frozenset({"receive"}),
}


@dataclass(frozen=True)
class QueueBinding:
    """One Service Bus binding of one function."""

    function: str
    access: Literal["receive", "send"]
    queue: str
    connection: str


def function_app_path(repo_root: Path) -> Path:
    """Where the coordinator's ``function_app.py`` lives."""
    return repo_root / FUNCTION_APP_FILE


def _load(module_file: Path) -> Any:
    """Import ``module_file`` the way the Functions host does, without leaking its modules.

    function_app.py imports its blueprints (and they their helpers) as top-level modules from the
    app folder; those generic names (``blueprints``, ``runtime``) are dropped from ``sys.modules``
    afterwards so they cannot shadow or be shadowed by anything else in this process.
    """
    module_file = module_file.resolve()
    app_dir = str(module_file.parent)
    before = set(sys.modules)
    # A module already imported under the same name (a test's own ``runtime``) is put back afterwards,
    # so reading bindings never cuts live code off from the module it imported.
    previous = sys.modules.get(module_file.stem)
    sys.path.insert(0, app_dir)
    try:
        # Under its own top-level name, as the host imports it (dataclasses need it in sys.modules).
        spec = importlib.util.spec_from_file_location(module_file.stem, module_file)
        if spec is None or spec.loader is None:
            raise ConfigurationError(f"cannot load {module_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_file.stem] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(app_dir)
        for name in set(sys.modules) - before:
            if _inside(sys.modules[name], module_file.parent):
                del sys.modules[name]
        if previous is not None:
            sys.modules[module_file.stem] = previous
    return module


def _inside(module: Any, folder: Path) -> bool:
    locations = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    return any(location and Path(location).resolve().is_relative_to(folder) for location in locations)


_APP_MODULE_NAMES = ("function_app", "blueprints", "runtime")


def _load_app(app_file: Path) -> Any:
    # Names another app folder left in sys.modules (its "blueprints", "runtime") must not be reused
    # for this one, and must be put back afterwards: live code (a test's app, the local host) holds
    # references to those very module objects, and a fresh import would split it from them.
    folder = app_file.resolve().parent
    foreign = {
        name: module
        for name, module in list(sys.modules.items())
        if name.split(".", 1)[0] in _APP_MODULE_NAMES and module is not None and not _inside(module, folder)
    }
    for name in foreign:
        del sys.modules[name]
    try:
        module = _load(app_file)
    finally:
        sys.modules.update(foreign)
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_functions"):
        raise ConfigurationError(f"{app_file} defines no FunctionApp named `app`")
    return app


def read_bindings(app_file: Path) -> list[QueueBinding]:
    """Every Service Bus binding of every function registered on ``app`` in ``app_file``."""
    app = _load_app(app_file)
    found: list[QueueBinding] = []
    for function in app.get_functions():
        for binding in function.get_bindings():
            raw = binding.get_dict_repr()
            access = _SERVICE_BUS_TYPES.get(str(raw.get("type")))
            if access is None:
                continue
            queue, connection = raw.get("queueName"), raw.get("connection")
            if not queue or not connection:
                raise ConfigurationError(
                    f"{function.get_function_name()}: Service Bus binding without queueName/connection"
                )
            found.append(QueueBinding(function.get_function_name(), access, str(queue), str(connection)))
    return sorted(found, key=lambda b: (b.queue, b.access, b.function))


def queue_access(bindings: Iterable[QueueBinding]) -> dict[str, frozenset[str]]:
    """queue -> {"receive", "send"}: the data-plane roles the coordinator needs on each queue."""
    access: dict[str, set[str]] = {}
    for binding in bindings:
        access.setdefault(binding.queue, set()).add(binding.access)
    return {queue: frozenset(kinds) for queue, kinds in sorted(access.items())}


def connections(bindings: Iterable[QueueBinding]) -> frozenset[str]:
    """The connection setting prefixes the bindings use (``SERVICEBUS`` -> ``SERVICEBUS__...``)."""
    return frozenset(binding.connection for binding in bindings)


def sdk_sends(app_file: Path) -> frozenset[str]:
    """Queues the coordinator sends to with the Service Bus SDK rather than an output binding.

    Declared by the function code as ``SENT_QUEUES`` in ``runtime.py`` beside ``function_app.py``
    (output bindings cannot carry application properties, so the coordinator sends with the SDK).
    """
    runtime_file = app_file.parent / "runtime.py"
    if not runtime_file.exists():
        return frozenset()
    sent = getattr(_load(runtime_file), "SENT_QUEUES", ())
    return frozenset(str(queue) for queue in sent)


def coordinator_queues(app_file: Path) -> tuple[dict[str, frozenset[str]], frozenset[str], bool]:
    """(queue access, connection names, read from code?) for the coordinator.

    From the function app's bindings plus its SDK sends when it exists; otherwise what DESIGN.md draws
    (the third value is then False, and the program warns).
    """
    if not app_file.exists():
        return dict(DESIGN_QUEUE_ACCESS), frozenset({DEFAULT_CONNECTION}), False
    found = read_bindings(app_file)
    sent = [QueueBinding("(sdk)", "send", queue, DEFAULT_CONNECTION) for queue in sdk_sends(app_file)]
    return queue_access([*found, *sent]), connections(found), True
