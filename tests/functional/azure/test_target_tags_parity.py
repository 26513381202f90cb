"""One table of service answers, read by the coordinator and by the AWS executor: identical typing.

The coordinator reads a target through ``target_reader.ApiToolReader`` (its cloud read path) behind
``ReadToolTargetResolver``; the executor through ``ExecutionGate.resolve_target``. Both are given the
same in-memory transport answering each row, and must agree on whether the tags are known, on the tags
themselves, and on the Cedar context the policy then sees.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest

from agentcage.coordinator import ReadToolTargetResolver
from agentcage.gate import GovernanceGate
from agentcage.ledger import open_ledger
from agentcage.policy import CallContext, cedar_context
from functions.aws.executor import ExecutionGate, ServiceRequest, ServiceResponse
from tests.functional.azure.azure_support import APP_DIR

MISSING = object()


class TableTransport:
    """Answers every read with one row's status and body (``MISSING``: no tags field at all)."""

    def __init__(self, status: int, tags: Any) -> None:
        self.status = status
        self.tags = tags
        self.requests: list[ServiceRequest] = []

    def send(self, request: ServiceRequest) -> ServiceResponse:
        self.requests.append(request)
        body: Any = {"volume_id": "vol-0a1b2c3d4e", "size_gb": 10}
        if self.tags is not MISSING:
            body["tags"] = self.tags
        return ServiceResponse(self.status, body)


# (row name, HTTP status, the tags field as the service answers it, the tags both sides must see)
ROWS: list[tuple[str, int, Any, dict[str, str] | None]] = [
    (
        "production-candidate",
        200,
        {"environment": "production-candidate"},
        {"environment": "production-candidate"},
    ),
    ("camel-case key", 200, {"EnvironmentName": "Prod"}, {"EnvironmentName": "Prod"}),
    ("a team, not an environment", 200, {"owner": "prod-team"}, {"owner": "prod-team"}),
    ("no tags at all", 200, {}, {}),
    ("an integer value", 200, {"environment": 1}, None),
    ("a boolean protection flag", 200, {"protected": True}, None),
    ("a list value", 200, {"environment": ["prod"]}, None),
    ("a null value", 200, {"environment": None}, None),
    ("AWS's Key/Value list", 200, [{"Key": "environment", "Value": "prod"}], None),
    ("a string instead of tags", 200, "environment=prod", None),
    ("a null tags field", 200, None, None),
    ("no tags field", 200, MISSING, None),
    ("the service failed", 503, {"environment": "dev"}, None),
    ("not found", 404, {"environment": "dev"}, None),
]


@pytest.fixture(scope="module")
def target_reader() -> Any:
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    return importlib.import_module("target_reader")


@pytest.fixture(scope="module")
def gate() -> GovernanceGate:
    return GovernanceGate.default()


def _both_sides(
    target_reader: Any, gate: GovernanceGate, transport: TableTransport, args: dict[str, Any]
) -> tuple[Any, Any]:
    tool = gate.catalog["deleteVolume"]
    assert tool.target is not None
    coordinator = ReadToolTargetResolver(target_reader.ApiToolReader(gate.catalog, transport))
    executor = ExecutionGate(gate, open_ledger("memory"), transport, environment="dev")
    resolution = executor.resolve_target(tool, args)
    assert resolution is not None
    return coordinator.resolve(tool.target, args), resolution.tags


def _policy_view(tags: Any) -> dict[str, Any]:
    context = CallContext(environment="dev", args={}, target_tags=tags)
    return dict(cedar_context(context, finance_threshold_cents=0)["target"])


@pytest.mark.parametrize(
    ("status", "tags", "expected"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS]
)
def test_both_sides_type_a_service_answer_identically(
    target_reader: Any, gate: GovernanceGate, status: int, tags: Any, expected: dict[str, str] | None
) -> None:
    # GIVEN one service answer
    transport = TableTransport(status, tags)

    # WHEN the coordinator and the executor each resolve the same call's target
    coordinator, executor = _both_sides(target_reader, gate, transport, {"volume_id": "vol-0a1b2c3d4e"})

    # THEN they read the same tags (or both know none) and the policy sees the same target
    assert coordinator == executor == expected
    assert _policy_view(coordinator) == _policy_view(executor)
    assert len(transport.requests) == 2  # each side asked the service once


@pytest.mark.parametrize(
    "args", [{}, {"volume_id": None}, {"volume_id": 123}, {"volume_id": ""}, {"volume_id": "  "}]
)
def test_a_call_without_a_usable_target_id_is_unknown_on_both_sides_without_a_read(
    target_reader: Any, gate: GovernanceGate, args: dict[str, Any]
) -> None:
    transport = TableTransport(200, {"environment": "dev"})

    coordinator, executor = _both_sides(target_reader, gate, transport, args)

    assert coordinator is None
    assert executor is None
    assert transport.requests == []


def test_production_candidate_is_production_like_on_both_sides(
    target_reader: Any, gate: GovernanceGate
) -> None:
    transport = TableTransport(200, {"Environment": "production-candidate"})

    coordinator, executor = _both_sides(target_reader, gate, transport, {"volume_id": "vol-0a1b2c3d4e"})

    assert _policy_view(coordinator)["production_like"] is True
    assert _policy_view(executor)["production_like"] is True
