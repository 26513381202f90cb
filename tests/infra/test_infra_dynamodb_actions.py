"""The DynamoDB actions each role is granted are exactly the ones its code calls.

The calls are read from the source (every ``client.<operation>(...)``, every ``self._call("<operation>",
...)`` and every item kind of a transaction), mapped to IAM actions through botocore's own DynamoDB
model, and compared with the grants in infra/iam.py and in the deployed program.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import botocore.session
from infra_harness import REPO_ROOT, StackRun

from infra.iam import (
    COORDINATOR_LEDGER_ACTIONS,
    DEAD_LETTERS_LEDGER_ACTIONS,
    LEDGER_ACTIONS,
    LEDGER_SWEEPER_ACTIONS,
    TABLE_READ_ACTIONS,
    TABLE_WRITE_ACTIONS,
)

LEDGER_BACKEND = sorted((REPO_ROOT / "shared" / "agentcage" / "ledger").glob("dynamodb*.py"))
DOMAIN_REPOSITORY = REPO_ROOT / "functions" / "aws" / "services" / "repository.py"
_MODEL = botocore.session.get_session().get_service_model("dynamodb")
OPERATIONS = {botocore.xform_name(name): name for name in _MODEL.operation_names}
# A transaction is authorised per item, with the action of the item's kind.
TRANSACTIONS = {"transact_write_items", "transact_get_items"}
ITEM_KINDS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _is_table_setup(function: str) -> bool:
    # create_ledger_table & co. make the table for tests and the local runtime; in the cloud the
    # Pulumi program creates it, so no role needs CreateTable.
    return function.startswith("create_") and function.endswith("_table")


def actions_by_function(*paths: Path) -> dict[str, set[str]]:
    """Function name -> the IAM actions of the DynamoDB calls written in its body."""
    found: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            if _is_table_setup(function.name):
                continue
            actions = found.setdefault(function.name, set())
            for node in ast.walk(function):
                actions |= _actions_of(node)
    return found


def _actions_of(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Dict):  # a transaction item: {"Put": {...}}
        return {
            f"dynamodb:{ITEM_KINDS[key.value]}"
            for key in node.keys
            if isinstance(key, ast.Constant) and key.value in ITEM_KINDS
        }
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return set()
    operation = node.func.attr
    first = node.args[0] if node.args else None
    if operation in ("_call", "get_paginator") and isinstance(first, ast.Constant):
        operation = str(first.value)  # self._call("get_item", ...), client.get_paginator("scan")
    if operation not in OPERATIONS or operation in TRANSACTIONS:
        return set()
    return {f"dynamodb:{OPERATIONS[operation]}"}


def used(by_function: dict[str, set[str]]) -> set[str]:
    return set().union(*by_function.values())


def callers_of(name: str, *paths: Path) -> set[str]:
    callers = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            calls = (n for n in ast.walk(function) if isinstance(n, ast.Call))
            if any(isinstance(c.func, ast.Attribute) and c.func.attr == name for c in calls):
                callers.add(function.name)
    return callers


def test_the_reader_finds_the_calls_it_is_meant_to_find(tmp_path: Path) -> None:
    # GIVEN a snippet with each way the code calls DynamoDB (a check that the AST reader can fail)
    snippet = (
        'def f(self):\n    self._call("get_item")\n    self.client.query()\n'
        '    self.client.transact_write_items(TransactItems=[{"ConditionCheck": {}}, {"Delete": {}}])\n'
        "def create_x_table(client):\n    client.create_table()\n"
    )
    path = tmp_path / "snippet.py"
    path.write_text(snippet, encoding="utf-8")
    assert used(actions_by_function(path)) == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
    }


def test_the_coordinator_ledger_role_is_granted_exactly_what_the_ledger_backend_calls() -> None:
    backend = used(actions_by_function(*LEDGER_BACKEND))
    assert backend  # the reader found the backend's calls
    assert set(COORDINATOR_LEDGER_ACTIONS) == backend
    assert len(COORDINATOR_LEDGER_ACTIONS) == len(set(COORDINATOR_LEDGER_ACTIONS))


def test_scan_is_the_only_ledger_action_the_executor_goes_without_and_only_cross_task_work_scans() -> None:
    by_function = actions_by_function(*LEDGER_BACKEND)
    assert set(LEDGER_ACTIONS) == used(by_function) - {"dynamodb:Scan"}
    scanning = {name for name, actions in by_function.items() if "dynamodb:Scan" in actions}
    assert scanning == {"_scan"}
    # list_tasks, expire_stale() and undelivered() without a task: the approval-expiry timer and the
    # sweeper, never the executor or the dead-letters Lambda.
    assert callers_of("_scan", *LEDGER_BACKEND) == {"_list_tasks", "_stale_reservations", "_undelivered"}
    for module in (REPO_ROOT / "functions" / "aws").rglob("*.py"):
        source = module.read_text(encoding="utf-8")
        assert "list_tasks(" not in source, module
        if module.name != "ledger_sweeper.py":
            assert "expire_stale()" not in source, module


def test_the_other_ledger_roles_are_granted_only_what_the_backend_calls() -> None:
    backend = used(actions_by_function(*LEDGER_BACKEND))
    assert set(LEDGER_SWEEPER_ACTIONS) <= backend
    assert set(DEAD_LETTERS_LEDGER_ACTIONS) <= backend


def test_the_domain_table_grants_are_what_the_repository_calls() -> None:
    by_function = actions_by_function(DOMAIN_REPOSITORY)
    assert set(TABLE_WRITE_ACTIONS) == used(by_function)
    assert set(TABLE_READ_ACTIONS) == by_function["_get"] | by_function["_query"]


def test_the_deployed_ledger_role_carries_exactly_those_actions(run: StackRun) -> None:
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "azure-to-aws-ledger-policy")
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert set(statement["Action"]) == used(actions_by_function(*LEDGER_BACKEND))
