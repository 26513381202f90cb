"""The console over a real coordinator on the memory ledger: what each person sees, and how a decision
travels (to the decide route, only from the console's own script, only for what the page showed)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from agentcage.approvals import Principal
from agentcage.console import Console, ConsoleRequest, ConsoleResponse
from agentcage.coordinator import Coordinator, HttpAnswer
from agentcage.ledger import MemoryLedger
from tests.functional.coordinator.coordinator_support import (
    Driver,
    FakeClock,
    FakeExecutor,
    budget_config,
    make_coordinator,
)

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"
PEOPLE = {
    "finance": Principal(id="finance-oid", name="Finn Finance", roles=("finance",)),
    "auditor": Principal(id="auditor-oid", name="Ada Auditor", roles=("auditor",)),
    "stranger": Principal(id="stranger-oid", name="Sam Stranger", roles=()),
}
SAME_ORIGIN = {
    "host": "coord.example",
    "origin": "https://coord.example",
    "sec-fetch-site": "same-origin",
    "content-type": "application/json",
    "x-agentcage-console": "decide",
}


class RecordingDecide:
    """Stands in for ``POST /api/approvals/{id}`` and remembers what the console sent it."""

    def __init__(self, answer: HttpAnswer | None = None) -> None:
        self.calls: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.answer = answer or HttpAnswer(200, {"approval": {"status": "approved"}})

    def __call__(self, approval_id: str, headers: Mapping[str, str], body: bytes) -> HttpAnswer:
        self.calls.append((approval_id, dict(headers), json.loads(body)))
        return self.answer


@pytest.fixture
def coordinator() -> Coordinator:
    clock = FakeClock()
    return make_coordinator(MemoryLedger(breaker=budget_config().breaker, clock=clock))


@pytest.fixture
def task_id(coordinator: Coordinator) -> str:
    driver = Driver(coordinator, FakeExecutor(coordinator.ledger))
    started = driver.start(REFUND)
    assert coordinator.task(started).state.value == "awaiting_approval"
    return started


@pytest.fixture
def decide() -> RecordingDecide:
    return RecordingDecide()


@pytest.fixture
def console(coordinator: Coordinator, decide: RecordingDecide) -> Console:
    return Console(
        coordinator,
        access=coordinator.access,
        decide=decide,
        principal_of=lambda headers: PEOPLE[headers["x-test-person"]],
        origins=("https://coord.example",),
    )


def get(console: Console, path: str, person: str) -> ConsoleResponse:
    return console.handle(ConsoleRequest.of("GET", path, {"X-Test-Person": person}))


def post_decision(
    console: Console, approval_id: str, body: dict[str, Any], person: str = "finance", **headers: str
) -> ConsoleResponse:
    sent = {k: v for k, v in {**SAME_ORIGIN, "x-test-person": person, **headers}.items() if v}
    path = f"/api/console/approvals/{approval_id}/decision"
    return console.handle(ConsoleRequest.of("POST", path, sent, json.dumps(body).encode()))


def pending(coordinator: Coordinator, task_id: str) -> Any:
    [approval] = coordinator.ledger.pending_approvals(task_id)
    return approval


def test_the_landing_page_shows_an_approver_everything_needed_to_decide(
    console: Console, coordinator: Coordinator, task_id: str
) -> None:
    approval = pending(coordinator, task_id)

    answer = get(console, "/api/console", "finance")

    page = answer.body.decode()
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert approval.tool in page
    assert approval.args_digest in page
    assert all(f"&quot;{key}&quot;" in page for key in approval.args)  # the exact arguments, escaped JSON
    assert all(policy in page for policy in approval.policies)
    assert 'class="countdown"' in page
    assert approval.expires_at.isoformat() in page
    assert 'value="approve"' in page
    assert 'value="deny"' in page
    assert f'data-digest="{approval.args_digest}"' in page
    assert "Finn Finance" in page  # who is deciding


def test_a_person_who_may_not_read_the_task_sees_no_approval_and_the_same_404_as_for_no_task(
    console: Console, coordinator: Coordinator, task_id: str
) -> None:
    approval = pending(coordinator, task_id)

    landing = get(console, "/api/console", "stranger").body.decode()
    hidden = get(console, f"/api/console/tasks/{task_id}", "stranger")
    missing = get(console, "/api/console/tasks/task-00000000000000000000000000000000", "stranger")
    hidden_approval = get(console, f"/api/console/approvals/{approval.approval_id}", "stranger")

    assert approval.args_digest not in landing
    assert "No approval is waiting for you" in landing
    assert hidden.status == missing.status == hidden_approval.status == 404
    assert task_id not in hidden.body.decode()
    strip = lambda body: body.decode().split("trace id")[0]  # noqa: E731 - each answer has its own trace id
    assert strip(hidden.body) == strip(missing.body) == strip(hidden_approval.body)


def test_an_auditor_reads_the_task_but_sees_why_they_cannot_decide_instead_of_buttons(
    console: Console, coordinator: Coordinator, task_id: str
) -> None:
    approval = pending(coordinator, task_id)

    page = get(console, f"/api/console/approvals/{approval.approval_id}", "auditor").body.decode()

    assert approval.args_digest in page
    assert 'value="approve"' not in page
    assert "You may not decide this approval" in page
    assert "may read this task but not decide" in page


def test_a_decision_goes_to_the_decide_route_with_the_persons_headers_and_only_decision_and_comment(
    console: Console, coordinator: Coordinator, task_id: str, decide: RecordingDecide
) -> None:
    approval = pending(coordinator, task_id)

    answer = post_decision(
        console,
        approval.approval_id,
        {"decision": "approve", "comment": " ok ", "args_digest": approval.args_digest},
    )

    assert answer.status == 200, answer.body
    assert json.loads(answer.body) == {
        "ok": True,
        "message": "approved as Finn Finance",
        "trace_id": json.loads(answer.body)["trace_id"],
    }
    [(approval_id, headers, body)] = decide.calls
    assert approval_id == approval.approval_id
    assert headers["x-test-person"] == "finance"
    assert headers["content-type"] == "application/json"
    assert body == {"decision": "approve", "comment": "ok"}


def test_the_decide_routes_refusal_reaches_the_page_with_its_status_and_reason(
    coordinator: Coordinator, task_id: str
) -> None:
    refusal = HttpAnswer(403, {"error": {"code": "policy_denied", "message": "needs the finance role"}})
    console = Console(
        coordinator,
        access=coordinator.access,
        decide=RecordingDecide(refusal),
        principal_of=lambda headers: PEOPLE[headers["x-test-person"]],
        origins=("https://coord.example",),
    )
    approval = pending(coordinator, task_id)

    answer = post_decision(
        console, approval.approval_id, {"decision": "approve", "args_digest": approval.args_digest}
    )

    assert answer.status == 403
    assert json.loads(answer.body)["message"] == "needs the finance role"
    assert json.loads(answer.body)["ok"] is False


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"x-agentcage-console": ""}, 403),
        ({"origin": "https://evil.example"}, 403),
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"content-type": "application/x-www-form-urlencoded"}, 403),
    ],
)
def test_a_decision_not_sent_by_the_consoles_script_is_refused_before_anything_is_decided(
    console: Console,
    coordinator: Coordinator,
    task_id: str,
    decide: RecordingDecide,
    headers: dict[str, str],
    status: int,
) -> None:
    approval = pending(coordinator, task_id)

    answer = post_decision(
        console, approval.approval_id, {"decision": "approve", "args_digest": approval.args_digest}, **headers
    )

    assert answer.status == status
    assert json.loads(answer.body)["code"] == "cross_site_request"
    assert decide.calls == []


def test_a_decision_for_arguments_other_than_the_page_showed_or_by_a_stranger_is_refused(
    console: Console, coordinator: Coordinator, task_id: str, decide: RecordingDecide
) -> None:
    approval = pending(coordinator, task_id)

    other = post_decision(console, approval.approval_id, {"decision": "approve", "args_digest": "0" * 64})
    stranger = post_decision(
        console,
        approval.approval_id,
        {"decision": "deny", "args_digest": approval.args_digest},
        person="stranger",
    )
    malformed = post_decision(console, approval.approval_id, {"decision": "maybe", "args_digest": "x"})

    assert (other.status, stranger.status, malformed.status) == (409, 404, 400)
    assert decide.calls == []


def test_the_task_page_shows_the_waterfall_trace_and_escapes_what_tools_returned(
    console: Console, coordinator: Coordinator, task_id: str
) -> None:
    page = get(console, f"/api/console/tasks/{task_id}", "finance").body.decode()

    trace_id = coordinator.task_view(task_id)["trace_id"]
    assert trace_id in page
    assert f"1-{trace_id[:8]}-{trace_id[8:]}" in page
    assert 'class="hop hop-queue cloud-aws"' in page  # the fake executor records no execution event
    assert "getCustomer" in page
    assert "lifetime_value_cents" in page


def test_the_task_list_is_the_persons_own_tasks_and_the_circuits_page_lists_every_tool(
    console: Console, coordinator: Coordinator, task_id: str
) -> None:
    auditor = get(console, "/api/console/tasks", "auditor").body.decode()
    stranger = get(console, "/api/console/tasks", "stranger").body.decode()
    circuits = get(console, "/api/console/circuits", "stranger").body.decode()

    assert task_id in auditor
    assert "<meter" in auditor
    assert task_id not in stranger
    assert all(tool in circuits for tool in coordinator.gate.catalog)


def test_unknown_pages_wrong_methods_and_assets(console: Console) -> None:
    missing = get(console, "/api/console/nope", "finance")
    wrong = console.handle(ConsoleRequest.of("POST", "/api/console/tasks", {"x-test-person": "finance"}))
    script = get(console, "/api/console/static/console.js", "finance")
    escape_attempt = get(console, "/api/console/static/..%2fapp.py", "finance")

    assert missing.status == 404
    assert missing.headers["Content-Type"].startswith("text/html")
    assert wrong.status == 405
    assert wrong.headers["Allow"] == "GET"
    assert script.status == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert b"X-Agentcage-Console" in script.body
    assert escape_attempt.status == 404


def test_a_reader_who_may_not_decide_is_refused_even_when_the_request_is_well_formed(
    console: Console, coordinator: Coordinator, task_id: str, decide: RecordingDecide
) -> None:
    approval = pending(coordinator, task_id)

    answer = post_decision(
        console,
        approval.approval_id,
        {"decision": "approve", "args_digest": approval.args_digest},
        person="auditor",
    )

    assert answer.status == 403
    assert "may read this task but not decide" in json.loads(answer.body)["message"]
    assert decide.calls == []


def test_the_landing_page_says_when_older_waiting_tasks_were_not_read(
    console: Console, coordinator: Coordinator, task_id: str
) -> None:
    # GIVEN two tasks waiting for an approval (created at one instant of the fake clock: which one is
    # "newest" is the ledger's tie-break), and a scan that reads only one
    older = pending(coordinator, task_id)
    newer_task = Driver(coordinator, FakeExecutor(coordinator.ledger)).start(REFUND)
    newer = pending(coordinator, newer_task)
    scanned = console.views.pending_approvals(PEOPLE["finance"], limit=1)
    everything = console.views.pending_approvals(PEOPLE["finance"])

    # THEN the cut scan shows one and says it was cut; the whole scan shows both and says nothing
    assert (scanned.scanned, scanned.cut) == (1, True)
    assert len(scanned.cards) == 1
    assert scanned.cards[0].approval.approval_id in {older.approval_id, newer.approval_id}
    assert (everything.scanned, everything.cut) == (2, False)
    assert {card.approval.approval_id for card in everything.cards} == {older.approval_id, newer.approval_id}


def test_a_cut_scan_is_said_on_the_page_with_how_many_tasks_were_read(
    console: Console, coordinator: Coordinator, task_id: str
) -> None:
    from agentcage.console.pages import approvals_page
    from agentcage.console.views import PendingApprovals

    cards = console.views.pending_approvals(PEOPLE["finance"]).cards
    now = coordinator.ledger.now()

    cut = approvals_page(
        PendingApprovals(cards, scanned=500, cut=True), PEOPLE["finance"], "/api/console", now
    )
    whole = approvals_page(
        PendingApprovals(cards, scanned=1, cut=False), PEOPLE["finance"], "/api/console", now
    )

    assert "Only the 500 newest tasks waiting for an approval were read" in cut.decode()
    assert 'href="/api/console/tasks"' in cut.decode()
    assert "were read" not in whole.decode()
    assert pending(coordinator, task_id).args_digest in cut.decode()
