"""The bindings the host and infra read from ``app.get_functions()``: queues, connection, routes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from agentcage.constants import AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE
from tests.functional.azure.azure_support import APP_DIR

APP_MODULES = frozenset({"function_app", "runtime", "adapters", "aws_access"})


def _bindings(registered: list[Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        fn.get_function_name(): [
            json.loads(json.dumps(b.get_dict_repr(), default=str)) for b in fn.get_bindings()
        ]
        for fn in registered
    }


def test_each_queue_trigger_binds_its_queue_through_the_identity_based_connection(
    registered: list[Any],
) -> None:
    import runtime

    triggers = {
        name: binding
        for name, bindings in _bindings(registered).items()
        for binding in bindings
        if binding["type"] == "serviceBusTrigger"
    }
    assert {name: (b["queueName"], b["connection"]) for name, b in triggers.items()} == {
        "run_agent_step": (AGENT_STEPS_QUEUE, "SERVICEBUS"),
        "bridge_to_aws": (TOOL_REQUESTS_QUEUE, "SERVICEBUS"),
        "record_tool_result": (TOOL_RESULTS_QUEUE, "SERVICEBUS"),
    }
    assert runtime.CONNECTION == "SERVICEBUS"
    # What the runtime sends with the SDK (no output binding can: see runtime's docstring).
    assert runtime.SENT_QUEUES == (AGENT_STEPS_QUEUE, TOOL_REQUESTS_QUEUE)
    assert not [b for bs in _bindings(registered).values() for b in bs if b["type"] == "serviceBus"]


def test_the_http_routes_and_methods_are_the_documented_api(registered: list[Any]) -> None:
    routes = {
        name: (b["route"], sorted(b["methods"]), b["authLevel"])
        for name, bindings in _bindings(registered).items()
        for b in bindings
        if b["type"] == "httpTrigger"
    }
    assert {name: route for name, route in routes.items() if not name.startswith(("console", "mcp"))} == {
        "create_task": ("tasks", ["POST"], "ANONYMOUS"),
        "list_tasks": ("tasks", ["GET"], "ANONYMOUS"),
        "get_task": ("tasks/{task_id}", ["GET"], "ANONYMOUS"),
        "approval": ("approvals/{approval_id}", ["GET", "POST"], "ANONYMOUS"),
    }
    host = json.loads((APP_DIR / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensions"]["http"]["routePrefix"] == "api"


def test_infra_reads_the_same_bindings_and_sdk_sends_from_the_function_app() -> None:
    from infra.bindings import coordinator_queues

    # infra loads runtime.py under its top-level name and would replace this process's copy (which
    # the imported blueprints use): keep ours.
    ours = {
        name: module
        for name, module in sys.modules.items()
        if name in APP_MODULES or name.startswith("blueprints")
    }
    try:
        access, connection_names, from_code = coordinator_queues(APP_DIR / "function_app.py")
    finally:
        sys.modules.update(ours)

    assert from_code is True
    assert connection_names == frozenset({"SERVICEBUS"})
    assert access == {
        AGENT_STEPS_QUEUE: frozenset({"receive", "send"}),
        TOOL_REQUESTS_QUEUE: frozenset({"receive", "send"}),
        TOOL_RESULTS_QUEUE: frozenset({"receive"}),
    }


def test_importing_the_app_builds_nothing_and_opens_no_sdk() -> None:
    # The host imports function_app.py on every cold start: no client, credential or runtime then.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import function_app, runtime; "
        "assert runtime._runtime is None; "
        "sdks = ('boto3', 'azure.identity', 'azure.servicebus', 'openai'); "
        "assert not [m for m in sdks if m in sys.modules]"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(APP_DIR)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
