"""The Slack and Teams notices send a person straight to the approval's console page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentcage.approvals import ApprovalNotice, slack_payload, teams_payload
from agentcage.approvals.notice import console_approval_url

APPROVAL_ID = "task-0123456789abcdef0123456789abcdef.a42"


def notice(approval_url: str) -> ApprovalNotice:
    return ApprovalNotice(
        approval_id=APPROVAL_ID,
        task_id="task-0123456789abcdef0123456789abcdef",
        agent_id="returns-coordinator",
        tool="createRefund",
        args={"order_id": "O-50001", "amount_cents": 18999},
        args_digest="d" * 64,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        approval_url=approval_url,
    )


def _slack_button(payload: dict[str, object]) -> str:
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    [actions] = [b for b in blocks if b["type"] == "actions"]
    [button] = actions["elements"]
    return str(button["url"])


def _teams_button(payload: dict[str, object]) -> str:
    attachments = payload["attachments"]
    assert isinstance(attachments, list)
    [action] = attachments[0]["content"]["actions"]
    return str(action["url"])


@pytest.mark.parametrize("render", [_slack_button, _teams_button], ids=["slack", "teams"])
def test_the_review_button_opens_the_approvals_console_page_on_the_same_site(render: object) -> None:
    made = notice(f"https://coord.example/api/approvals/{APPROVAL_ID}")
    payload = slack_payload(made) if render is _slack_button else teams_payload(made)

    url = render(payload)  # type: ignore[operator]

    assert url == f"https://coord.example/api/console/approvals/{APPROVAL_ID}"


def test_a_link_the_coordinator_did_not_make_is_left_as_given_and_ids_are_encoded() -> None:
    assert notice("https://elsewhere.example/review").review_url == "https://elsewhere.example/review"
    assert notice(f"/api/approvals/{APPROVAL_ID}").review_url == f"/api/console/approvals/{APPROVAL_ID}"
    assert (
        console_approval_url("https://c.example/", "a/b?c")
        == "https://c.example/api/console/approvals/a%2Fb%3Fc"
    )
