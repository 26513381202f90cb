"""The Slack and Teams notices send a person to the approval's console page: through App Service
Authentication's sign-in in the cloud, straight to the page locally (decided by configuration)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from agentcage.approvals import ApprovalNotice, slack_payload, teams_payload
from agentcage.approvals.notice import (
    SIGN_IN_PATH,
    approval_link,
    console_approval_url,
    console_url,
    link_settings,
)

APPROVAL_ID = "task-0123456789abcdef0123456789abcdef.a42"
PAGE = f"/api/console/approvals/{APPROVAL_ID}"
CLOUD = {"WEBSITE_AUTH_ENABLED": "True", "WEBSITE_HOSTNAME": "coord-abc.westeurope-01.azurewebsites.net"}


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


def _slack_button(made: ApprovalNotice) -> str:
    blocks = slack_payload(made)["blocks"]
    [actions] = [b for b in blocks if b["type"] == "actions"]
    [button] = actions["elements"]
    return str(button["url"])


def _teams_button(made: ApprovalNotice) -> str:
    [action] = teams_payload(made)["attachments"][0]["content"]["actions"]
    return str(action["url"])


@pytest.mark.parametrize("button", [_slack_button, _teams_button], ids=["slack", "teams"])
def test_in_the_cloud_the_button_signs_the_person_in_and_lands_on_the_approvals_page(button: object) -> None:
    link = approval_link(APPROVAL_ID, environ=CLOUD)

    url = urlsplit(button(notice(link)))  # type: ignore[operator]

    assert (url.scheme, url.netloc, url.path) == ("https", CLOUD["WEBSITE_HOSTNAME"], SIGN_IN_PATH)
    # relative: App Service Authentication redirects only within the app's own host
    assert parse_qs(url.query) == {"post_login_redirect_uri": [PAGE]}


@pytest.mark.parametrize("button", [_slack_button, _teams_button], ids=["slack", "teams"])
def test_locally_the_button_opens_the_approvals_page_itself(button: object) -> None:
    link = approval_link(APPROVAL_ID, public_base_url="http://127.0.0.1:7071/", environ={})

    assert button(notice(link)) == f"http://127.0.0.1:7071{PAGE}"  # type: ignore[operator]


def test_a_configured_public_url_wins_over_the_platforms_host_name() -> None:
    link = approval_link(APPROVAL_ID, public_base_url="https://approve.example", environ=CLOUD)

    assert link == f"https://approve.example{SIGN_IN_PATH}?post_login_redirect_uri={PAGE}"


@pytest.mark.parametrize("enabled", ["False", "", "1", "yes"])
def test_only_the_platforms_true_turns_sign_in_on(enabled: str) -> None:
    assert not link_settings("https://c.example", {"WEBSITE_AUTH_ENABLED": enabled}).sign_in
    assert link_settings("https://c.example", {"WEBSITE_AUTH_ENABLED": " true "}).sign_in


def test_ids_are_encoded_and_stay_encoded_through_the_redirect() -> None:
    assert (
        console_approval_url("https://c.example/", "a/b?c")
        == "https://c.example/api/console/approvals/a%2Fb%3Fc"
    )
    signed = urlsplit(console_approval_url("https://c.example", "a/b?c&d", sign_in=True))
    assert parse_qs(signed.query) == {"post_login_redirect_uri": ["/api/console/approvals/a%2Fb%3Fc%26d"]}


def test_the_console_landing_page_link_and_a_page_that_is_not_a_path() -> None:
    assert console_url(base_url="https://c.example", sign_in=True) == (
        f"https://c.example{SIGN_IN_PATH}?post_login_redirect_uri=/api/console"
    )
    assert console_url() == "/api/console"
    with pytest.raises(ValueError, match="starting with '/'"):
        console_url("https://evil.example/")
