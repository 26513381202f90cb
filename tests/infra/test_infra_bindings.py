"""Infra == code: the Service Bus queues and connection settings are the ones the functions bind to."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from infra_harness import REPO_ROOT, StackRun

from infra.azure_roles import SERVICE_BUS_DATA_RECEIVER, SERVICE_BUS_DATA_SENDER
from infra.bindings import (
    QueueBinding,
    connections,
    coordinator_queues,
    function_app_path,
    queue_access,
    read_bindings,
)
from infra.policy_pack.rules import settings_of

APP_FILE = function_app_path(REPO_ROOT)
ROLE_FOR = {"receive": SERVICE_BUS_DATA_RECEIVER, "send": SERVICE_BUS_DATA_SENDER}


def test_the_reader_finds_triggers_and_outputs_of_blueprint_functions(tmp_path: Path) -> None:
    # A real (tiny) v2-model app, registered through a blueprint module the way the coordinator is.
    (tmp_path / "blueprints").mkdir()
    # A regular package, as in the real app: a namespace package would lose to any regular
    # ``blueprints`` package on sys.path (functions/azure, once another test has loaded the app).
    (tmp_path / "blueprints" / "__init__.py").write_text("")
    (tmp_path / "blueprints" / "steps.py").write_text(
        textwrap.dedent(
            """
            import azure.functions as func

            bp = func.Blueprint()

            @bp.service_bus_queue_trigger(arg_name="msg", queue_name="agent-steps", connection="SERVICEBUS")
            @bp.service_bus_queue_output(arg_name="out", queue_name="tool-requests", connection="SERVICEBUS")
            def run_step(msg, out):
                pass

            @bp.route(route="tasks", methods=["POST"])
            def create_task(req):
                pass
            """
        )
    )
    (tmp_path / "function_app.py").write_text(
        "import azure.functions as func\nfrom blueprints import steps\n\n"
        "app = func.FunctionApp()\napp.register_functions(steps.bp)\n"
    )
    found = read_bindings(tmp_path / "function_app.py")
    assert found == [
        QueueBinding("run_step", "receive", "agent-steps", "SERVICEBUS"),
        QueueBinding("run_step", "send", "tool-requests", "SERVICEBUS"),
    ]
    assert queue_access(found) == {
        "agent-steps": frozenset({"receive"}),
        "tool-requests": frozenset({"send"}),
    }
    assert connections(found) == frozenset({"SERVICEBUS"})


def test_the_deployed_queues_roles_and_settings_match_the_function_bindings(run: StackRun) -> None:
    if not APP_FILE.exists():
        pytest.skip(f"{APP_FILE.relative_to(REPO_ROOT)} does not exist yet: nothing to compare infra with")
    bindings = read_bindings(APP_FILE)
    assert bindings, "the function app binds to no Service Bus queue"
    deployed = {q.inputs["queueName"]: q.outputs["id"] for q in run.of_type("azure-native:servicebus:Queue")}
    assert {b.queue for b in bindings} <= set(deployed)
    (identity,) = run.of_type("azure-native:managedidentity:UserAssignedIdentity")
    grants = {
        (a.inputs["scope"], a.inputs["roleDefinitionId"].rsplit("/", 1)[1])
        for a in run.of_type("azure-native:authorization:RoleAssignment")
        if a.inputs["principalId"] == identity.outputs["principalId"]
    }
    for binding in bindings:
        assert (deployed[binding.queue], ROLE_FOR[binding.access]) in grants, binding
    (app,) = run.of_type("azure-native:web:WebApp")
    settings = settings_of(app.type, app.inputs)
    for connection in connections(bindings):
        assert settings[f"{connection}__fullyQualifiedNamespace"].endswith(".servicebus.windows.net")
        assert settings[f"{connection}__credential"] == "managedidentity"
        assert settings[f"{connection}__clientId"] == identity.outputs["clientId"]


def test_without_a_function_app_the_coordinator_gets_the_design_queues(tmp_path: Path) -> None:
    access, names, from_code = coordinator_queues(tmp_path / "function_app.py")
    assert from_code is False
    assert names == frozenset({"SERVICEBUS"})
    assert access == {
        "agent-steps": frozenset({"receive", "send"}),
        "tool-requests": frozenset({"receive", "send"}),
        "tool-results": frozenset({"receive"}),
    }
