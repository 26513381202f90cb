"""The HTTP functions' errors: one body shape, the right status, and never a 5xx for any request."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcage.approvals import PrincipalSource
from tests.functional.azure.azure_support import call, principal_header
from tests.functional.azure.azure_support import requester_http as http  # from the tests' requester
from tests.functional.azure.conftest import Harness, build_harness
from tests.functional.coordinator.coordinator_support import FakeClock, open_test_ledger

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def memory_harness(functions: dict[str, Any], tmp_path: Path) -> Iterator[Harness]:
    import runtime

    clock = FakeClock()
    with open_test_ledger("memory", clock, tmp_path) as ledger:
        yield build_harness(
            functions, ledger, clock, environment="local", dev_approver="dev-approver:finance"
        )
    runtime.set_runtime(None)


def _error(status: int, body: dict[str, Any], expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert len(body["error"]["trace_id"]) == 32
    assert body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", JSON, 400, "invalid_input"),
        (b"[1, 2]", JSON, 400, "invalid_input"),
        (b'{"request": ""}', JSON, 400, "invalid_input"),
        (b'{"request": "x", "surprise": 1}', JSON, 400, "invalid_input"),
        (b'{"request": "x", "budget": {"tokens": 999999999999}}', JSON, 400, "invalid_input"),
        (b'{"request": "x"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (b'{"request": "x"}', {}, 415, "unsupported_media_type"),
        (b'{"request": "' + b"a" * 70_000 + b'"}', JSON, 413, "envelope_too_large"),
        (b'{"request": "x", "agent": "nobody-here"}', JSON, 404, "unknown_agent"),
        (b'{"request": "x", "context": {"parent_task_id": "task-1"}}', JSON, 400, "invalid_input"),
        (b'{"request": "x", "context": {"parent_request_id": "advance-1"}}', JSON, 400, "invalid_input"),
    ],
)
def test_bad_task_requests_get_the_structured_error(
    memory_harness: Harness, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    answer_status, answer, response = call(
        memory_harness.functions["create_task"], http("POST", "tasks", body=body, headers=headers)
    )
    _error(answer_status, answer, status, code)
    assert response.headers["traceparent"].split("-")[1] == answer["error"]["trace_id"]
    assert not memory_harness.sender.messages


def test_unknown_ids_wrong_methods_and_missing_identity(memory_harness: Harness) -> None:
    fns = memory_harness.functions
    _error(
        *call(fns["get_task"], http("GET", "tasks/task-nope", route_params={"task_id": "task-nope"}))[:2],
        404,
        "task_not_found",
    )
    _error(
        *call(fns["get_task"], http("GET", "tasks/x", route_params={"task_id": "a.b/c"}))[:2],
        400,
        "invalid_input",
    )
    _error(
        *call(fns["approval"], http("GET", "approvals/x", route_params={"approval_id": "nope"}))[:2],
        404,
        "approval_not_found",
    )
    status, body, response = call(
        fns["get_task"], http("DELETE", "tasks/t", route_params={"task_id": "task-1"})
    )
    _error(status, body, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET"
    bad_principal = {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"[]").decode(), **JSON}
    status, body, _ = call(
        fns["approval"],
        http(
            "POST",
            "approvals/x",
            body=b'{"decision": "approve"}',
            headers=bad_principal,
            route_params={"approval_id": "x"},
        ),
    )
    _error(status, body, 401, "unauthenticated")


def _approval_of(harness: Harness, deadline_seconds: int = 900, **principal: Any) -> str:
    request = {
        "request": "Refund order O-50001 for customer C-1001",
        "budget": {"deadline_seconds": deadline_seconds},
    }
    started = call(
        harness.functions["create_task"],
        http("POST", "tasks", headers=JSON, body=json.dumps(request).encode(), **principal),
    )[1]
    harness.pump.run()
    (pending,) = harness.coordinator.task_view(started["task_id"])["pending_approvals"]
    return str(pending["approval_id"])


def test_locally_the_development_approver_decides_and_the_answer_says_so(
    functions: dict[str, Any], tmp_path: Path
) -> None:
    import runtime

    # GIVEN the local runtime on loopback: no platform, the development principals
    clock = FakeClock()
    local = PrincipalSource.from_env(
        {"AGENTCAGE_LOCAL_LISTEN_HOST": "127.0.0.1"}, environment="local", dev_approver="dev-approver:finance"
    )
    with open_test_ledger("memory", clock, tmp_path) as ledger:
        harness = build_harness(functions, ledger, clock, environment="local", principals=local)
        try:
            approval_id = _approval_of(harness, principal=None)
            # WHEN a decision carries no principal
            status, body, _ = call(
                harness.functions["approval"],
                http(
                    "POST",
                    f"approvals/{approval_id}",
                    body=b'{"decision": "approve"}',
                    headers=JSON,
                    route_params={"approval_id": approval_id},
                    principal=None,
                ),
            )
        finally:
            runtime.set_runtime(None)
    # THEN the development approver decided it, and the answer says it is no signed-in person
    assert status == 200, body
    assert body["approver"] == {
        "id": "dev-approver",
        "name": "dev-approver (development approver)",
        "roles": ["finance"],
        "development": True,
    }
    assert "development principal 'dev-approver'" in body["note"]
    assert body["approval"]["requester"]["id"] == "dev-requester"
    assert body["approval"]["requester"]["kind"] == "development"


def test_the_agent_cannot_approve_its_own_call(memory_harness: Harness) -> None:
    approval_id = _approval_of(memory_harness)
    headers = {"X-MS-CLIENT-PRINCIPAL": principal_header("returns-coordinator", "the agent"), **JSON}
    status, body, _ = call(
        memory_harness.functions["approval"],
        http(
            "POST",
            f"approvals/{approval_id}",
            body=b'{"decision": "approve"}',
            headers=headers,
            route_params={"approval_id": approval_id},
        ),
    )
    _error(status, body, 403, "self_approval")


def test_the_coordinators_own_identity_cannot_approve(functions: dict[str, Any], tmp_path: Path) -> None:
    import runtime

    coordinator_oid = "9d2f0c1e-0000-4000-8000-00000000c00d"
    clock = FakeClock()
    with open_test_ledger("memory", clock, tmp_path) as ledger:
        harness = build_harness(functions, ledger, clock, environment="dev")
        harness.runtime.coordinator.settings = replace(
            harness.coordinator.settings, coordinator_principal_id=coordinator_oid
        )
        approval_id = _approval_of(harness)
        for header, status, code in [
            # its token as the platform forwards it: app-only, no user claims
            (_app_principal(coordinator_oid), 401, "unauthenticated"),
            # even were it to carry a user's claims, its object id is refused
            (principal_header(coordinator_oid, "agentcage coordinator", ("finance",)), 403, "self_approval"),
        ]:
            answer = call(
                harness.functions["approval"],
                http(
                    "POST",
                    f"approvals/{approval_id}",
                    body=b'{"decision": "approve"}',
                    headers={"X-MS-CLIENT-PRINCIPAL": header, **JSON},
                    route_params={"approval_id": approval_id},
                ),
            )
            _error(answer[0], answer[1], status, code)
        assert harness.coordinator.approval_view(approval_id)["status"] == "pending"
    runtime.set_runtime(None)


def _app_principal(object_id: str) -> str:
    claims = [
        {"typ": "oid", "val": object_id},
        {"typ": "roles", "val": "finance"},
        {"typ": "azp", "val": "x"},
    ]
    document = {"auth_typ": "aad", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


def test_an_expired_approval_answers_410_and_the_task_moves_on(memory_harness: Harness) -> None:
    approval_id = _approval_of(memory_harness, deadline_seconds=7200)
    memory_harness.clock.advance(3601)
    headers = {"X-MS-CLIENT-PRINCIPAL": principal_header("oid-late", "Late Larry"), **JSON}
    status, body, _ = call(
        memory_harness.functions["approval"],
        http(
            "POST",
            f"approvals/{approval_id}",
            body=b'{"decision": "approve"}',
            headers=headers,
            route_params={"approval_id": approval_id},
        ),
    )
    _error(status, body, 410, "approval_expired")
    memory_harness.pump.run()
    task_id = approval_id.split(".")[0]
    view = memory_harness.coordinator.task_view(task_id)
    assert view["state"] == "completed"
    assert view["steps"][-2]["calls"][0]["result"]["content"]["error"]["code"] == "approval_expired"
    assert "was not issued" in view["final_answer"]
    assert "approval_expired" in view["final_answer"]


# --- no request makes a function answer 5xx -------------------------------------------------------------
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_bodies = st.one_of(
    st.binary(max_size=200),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"request": st.text(max_size=50)},
        optional={
            "agent": st.sampled_from(["returns-coordinator", "janitor-agent", "x", ""]) | st.text(max_size=8),
            "budget": st.dictionaries(
                st.sampled_from(["tokens", "model_steps", "deadline_seconds", "x"]),
                st.integers(-5, 10**13) | st.text(max_size=3),
                max_size=3,
            ),
            "context": _json_values,
        },
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "decision": st.sampled_from(["approve", "deny", "maybe"]),
            "comment": st.none() | st.text(max_size=30),
        }
    ).map(lambda v: json.dumps(v).encode()),
)
_headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "text/plain", ""]
        ),
        "traceparent": st.sampled_from(["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "garbage"])
        | st.text(max_size=60),
        "X-MS-CLIENT-PRINCIPAL": st.text(max_size=40)
        | st.just(principal_header("oid-fuzz", "Fuzz", ("finance",)))
        | st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
    },
)
_ids = st.sampled_from(["task-nope", "", "a.b", "x" * 100, "task-1.a0123456789abcdef0123"]) | st.text(
    max_size=30
)


@settings(
    max_examples=2100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    function=st.sampled_from(["create_task", "get_task", "approval"]),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "BREW"]),
    body=_bodies,
    headers=_headers,
    ident=_ids,
    known=st.booleans(),
)
def test_no_generated_request_gets_a_5xx(
    memory_harness: Harness,
    function: str,
    method: str,
    body: bytes,
    headers: dict[str, str],
    ident: str,
    known: bool,
) -> None:
    route = {"get_task": {"task_id": ident}, "approval": {"approval_id": ident}}.get(function, {})
    if known and function == "approval":
        route = {"approval_id": _known_approval(memory_harness)}
    status, answer, _ = call(
        memory_harness.functions[function], http(method, "x", body=body, headers=headers, route_params=route)
    )
    assert status < 500, answer
    if status >= 400:
        assert set(answer) == {"error"}
        assert set(answer["error"]) >= {"code", "message", "trace_id"}


def _known_approval(harness: Harness) -> str:
    pending = harness.coordinator.ledger.list_tasks(limit=5, state="awaiting_approval")
    for task in pending:
        for approval in harness.coordinator.ledger.pending_approvals(task.task_id):
            return approval.approval_id
    return _approval_of(harness)
