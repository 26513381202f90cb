"""Approval notices for Slack and Teams, delivered with retries that never block the approval."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from agentcage.approvals import ApprovalNotice, WebhookNotifier, slack_payload, teams_payload

NOTICE = ApprovalNotice(
    approval_id="appr-1",
    task_id="task-1",
    agent_id="returns-coordinator",
    tool="createRefund",
    args={"order_id": "O-50001", "amount_cents": 18999},
    args_digest="ab" * 32,
    expires_at=datetime(2026, 11, 21, 13, 0, tzinfo=UTC),
    approval_url="https://coordinator.example/api/console/approvals/appr-1",
    reasons=("writes need an approval",),
    trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
)


class ScriptedAdapter(BaseAdapter):
    """Answers each request with the next scripted status (or raises the scripted exception)."""

    def __init__(self, script: list[int | Exception]) -> None:
        super().__init__()
        self.script = list(script)
        self.bodies: list[bytes] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.bodies.append(request.body if isinstance(request.body, bytes) else str(request.body).encode())
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        response = requests.Response()
        response.status_code = outcome
        response.request = request
        return response

    def close(self) -> None:
        return None


def _notifier(adapter: ScriptedAdapter, **kwargs: Any) -> tuple[WebhookNotifier, list[float]]:
    session = requests.Session()
    session.mount("https://", adapter)
    sleeps: list[float] = []
    return WebhookNotifier("https://hooks.example/x", session=session, sleep=sleeps.append, **kwargs), sleeps


def _texts(value: object) -> str:
    if isinstance(value, Mapping):
        return " ".join(_texts(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_texts(v) for v in value)
    return str(value)


def test_slack_payload_links_the_approval_and_names_the_tool() -> None:
    payload = slack_payload(NOTICE)

    assert "createRefund" in payload["text"]
    assert "https://coordinator.example/api/console/approvals/appr-1" in _texts(payload)
    assert "O-50001" in _texts(payload)


def test_teams_payload_is_an_adaptive_card_with_an_open_url_action() -> None:
    payload = teams_payload(NOTICE)
    card = payload["attachments"][0]["content"]

    assert card["type"] == "AdaptiveCard"
    assert card["actions"][0] == {
        "type": "Action.OpenUrl",
        "title": "Review and decide",
        "url": "https://coordinator.example/api/console/approvals/appr-1",
    }


def test_delivery_retries_transient_failures_then_succeeds() -> None:
    adapter = ScriptedAdapter([requests.ConnectionError("down"), 503, 200])
    notifier, sleeps = _notifier(adapter, attempts=3, backoff_seconds=0.5)

    outcome = notifier.notify(NOTICE)

    assert outcome.delivered is True
    assert outcome.attempts == 3
    assert sleeps == [0.5, 1.0]


def test_a_dead_webhook_is_recorded_and_never_raises() -> None:
    adapter = ScriptedAdapter([500, 500, 500])
    notifier, _ = _notifier(adapter, attempts=3)

    outcome = notifier.notify(NOTICE)

    assert outcome.delivered is False
    assert outcome.as_dict() == {
        "delivered": False,
        "attempts": 3,
        "status": 500,
        "error": "webhook answered 500",
    }


def test_a_client_error_is_not_retried() -> None:
    adapter = ScriptedAdapter([404])
    notifier, sleeps = _notifier(adapter, attempts=3, webhook_format="teams")

    outcome = notifier.notify(NOTICE)

    assert (outcome.delivered, outcome.attempts, sleeps) == (False, 1, [])
    assert b"AdaptiveCard" in adapter.bodies[0]


def test_plain_http_webhooks_are_refused() -> None:
    with pytest.raises(ValueError, match="https"):
        WebhookNotifier("http://hooks.example/x")
