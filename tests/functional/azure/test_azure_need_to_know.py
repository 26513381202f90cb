"""The Function App's HTTP routes on behalf of people: who creates, who reads, who lists."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcage.approvals import PrincipalSource
from tests.functional.azure.azure_support import REQUESTER_HEADER, call, http, principal_header
from tests.functional.azure.conftest import Harness, build_harness
from tests.functional.coordinator.coordinator_support import FakeClock, open_test_ledger

JSON = {"Content-Type": "application/json"}
KIM = principal_header("oid-kim", "Kim", ("service_rep",))
AUDREY = principal_header("oid-audrey", "Audrey", ("auditor",))
FINN = principal_header("oid-finn", "Finn", ("finance",))
NIGHTLY_APP = "22222222-bbbb"


def _app_header(app_id: str) -> str:
    claims = [
        {"typ": "oid", "val": "sp-oid"},
        {"typ": "sub", "val": "sp-oid"},
        {"typ": "appid", "val": app_id},
    ]
    document = {"auth_typ": "aad", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.fixture
def harness(functions: dict[str, Any], tmp_path: Path) -> Iterator[Harness]:
    import runtime

    clock = FakeClock()
    source = PrincipalSource(platform=True, trusted_apps=frozenset({NIGHTLY_APP}))
    with open_test_ledger("memory", clock, tmp_path) as ledger:
        yield build_harness(functions, ledger, clock, principals=source)
    runtime.set_runtime(None)


def _create(
    harness: Harness, principal: str | None, request: str = "Look up customer C-1001"
) -> tuple[int, dict]:
    body = json.dumps({"request": request}).encode()
    status, answer, _ = call(
        harness.functions["create_task"], http("POST", "tasks", body=body, headers=JSON, principal=principal)
    )
    return status, answer


def _get(harness: Harness, task_id: str, principal: str) -> tuple[int, dict]:
    request = http("GET", f"tasks/{task_id}", route_params={"task_id": task_id}, principal=principal)
    status, answer, _ = call(harness.functions["get_task"], request)
    return status, answer


def _list(harness: Harness, principal: str, **query: str) -> tuple[int, dict]:
    request = http("GET", "tasks", principal=principal)
    request = type(request)(
        method="GET", url=request.url, headers=dict(request.headers), params=query, body=b""
    )
    status, answer, _ = call(harness.functions["list_tasks"], request)
    return status, answer


def test_an_unauthenticated_create_is_401_and_creates_nothing(harness: Harness) -> None:
    status, answer = _create(harness, None)

    assert status == 401
    assert answer["error"]["code"] == "unauthenticated"
    assert harness.coordinator.ledger.list_tasks(limit=10) == []


def test_the_task_records_its_requester_and_only_they_and_auditors_read_it(harness: Harness) -> None:
    # GIVEN Sam's task
    status, created = _create(harness, REQUESTER_HEADER)
    assert status == 202
    assert created["requester"] == {
        "kind": "person",
        "id": "oid-requester",
        "roles": ["operations", "service_rep"],
    }
    task_id = created["task_id"]
    assert harness.coordinator.task(task_id).requester is not None

    # WHEN Sam, Kim (another requester), Finn (an approver, nothing pending) and Audrey (auditor) read it
    seen = {who: _get(harness, task_id, header) for who, header in
            {"sam": REQUESTER_HEADER, "kim": KIM, "finn": FINN, "audrey": AUDREY}.items()}  # fmt: skip

    # THEN the others are told what an unknown id is told
    assert seen["sam"][0] == seen["audrey"][0] == 200
    assert seen["sam"][1]["requester"]["id"] == "oid-requester"
    unknown = _get(harness, "task-doesnotexist", KIM)
    for who in ("kim", "finn"):
        status, answer = seen[who]
        assert status == unknown[0] == 404
        assert answer["error"]["code"] == unknown[1]["error"]["code"] == "task_not_found"


def test_an_approver_sees_a_waiting_approval_and_another_requester_does_not(harness: Harness) -> None:
    # GIVEN Sam's refund waiting for an approval
    status, created = _create(harness, REQUESTER_HEADER, "Refund order O-50001 for customer C-1001")
    assert status == 202
    harness.pump.run()
    [pending] = harness.coordinator.task_view(created["task_id"])["pending_approvals"]
    approval_id = pending["approval_id"]

    def show(principal: str) -> tuple[int, dict]:
        request = http(
            "GET", f"approvals/{approval_id}", route_params={"approval_id": approval_id}, principal=principal
        )
        status, answer, _ = call(harness.functions["approval"], request)
        return status, answer

    # THEN the approver sees it, with the requester it acts for; Kim gets the unknown approval's 404
    status, shown = show(FINN)
    assert status == 200
    assert shown["requester"]["id"] == "oid-requester"
    assert show(KIM)[0] == 404
    assert show(KIM)[1]["error"]["code"] == "approval_not_found"
    # AND an auditor may read it but not decide it
    body = json.dumps({"decision": "approve"}).encode()
    decide = http("POST", f"approvals/{approval_id}", body=body, headers=JSON,
                  route_params={"approval_id": approval_id}, principal=AUDREY)  # fmt: skip
    status, answer, _ = call(harness.functions["approval"], decide)
    assert status == 403, answer


def test_listing_pages_the_callers_tasks_and_an_auditor_sees_all(harness: Harness) -> None:
    mine = {_create(harness, REQUESTER_HEADER)[1]["task_id"] for _ in range(3)}
    theirs = _create(harness, KIM)[1]["task_id"]

    status, first = _list(harness, REQUESTER_HEADER, limit="2")
    assert status == 200
    assert len(first["tasks"]) == 2
    assert first["next_cursor"]
    status, second = _list(harness, REQUESTER_HEADER, limit="2", cursor=first["next_cursor"])
    assert status == 200
    assert {t["task_id"] for t in first["tasks"] + second["tasks"]} == mine
    assert second["next_cursor"] is None
    assert {t["task_id"] for t in _list(harness, AUDREY)[1]["tasks"]} == {*mine, theirs}
    assert _list(harness, REQUESTER_HEADER, limit="many")[0] == 400
    assert _list(harness, REQUESTER_HEADER, cursor="garbage!")[0] == 400


def test_an_app_only_token_creates_tasks_only_when_trusted_and_its_tasks_record_the_app(
    harness: Harness,
) -> None:
    status, _ = _create(harness, _app_header("33333333-cccc"))
    assert status == 401

    status, created = _create(harness, _app_header(NIGHTLY_APP))

    assert status == 202, created
    requester = harness.coordinator.task(created["task_id"]).requester
    assert requester is not None
    assert (requester.kind, requester.id) == ("app", NIGHTLY_APP)
    assert _get(harness, created["task_id"], _app_header(NIGHTLY_APP))[0] == 200
