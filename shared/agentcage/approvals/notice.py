"""What an approver is shown: one notice, rendered for Slack or Microsoft Teams webhooks.

Its button opens the approval's page in the console (:data:`CONSOLE_PATH`), where a person sees the
exact arguments and decides with a click; the JSON route ``/api/approvals/{id}`` stays for programs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import quote

__all__ = [
    "CONSOLE_PATH",
    "ApprovalNotice",
    "WebhookFormat",
    "console_approval_url",
    "render",
    "slack_payload",
    "teams_payload",
]

WebhookFormat = Literal["slack", "teams"]
_MAX_ARGS_CHARS = 1500
CONSOLE_PATH: Final = "/api/console"
"""Where the approval console is served (under the Function App's ``api`` route prefix, and locally)."""
_API_APPROVALS = "/api/approvals/"


def console_approval_url(public_base_url: str, approval_id: str) -> str:
    """The console page of one approval: where a notice sends a person to decide."""
    return f"{public_base_url.rstrip('/')}{CONSOLE_PATH}/approvals/{quote(approval_id, safe='')}"


@dataclass(frozen=True, slots=True)
class ApprovalNotice:
    """An approval waiting for a person: what, why, until when, and where to decide."""

    approval_id: str
    task_id: str
    agent_id: str
    tool: str
    args: dict[str, Any]
    args_digest: str
    expires_at: datetime
    approval_url: str
    reasons: tuple[str, ...] = field(default_factory=tuple)
    trace_id: str | None = None

    def args_text(self) -> str:
        """The arguments as indented JSON, cut to a length chat clients display."""
        text = json.dumps(self.args, indent=2, sort_keys=True, ensure_ascii=False)
        return text if len(text) <= _MAX_ARGS_CHARS else text[:_MAX_ARGS_CHARS] + "\n…"

    def title(self) -> str:
        """One line: which agent wants to call which tool."""
        return f"Approval needed: {self.agent_id} wants to call {self.tool}"

    @property
    def review_url(self) -> str:
        """The approval's console page, on the site ``approval_url`` (the API's view of it) names."""
        suffix = f"{_API_APPROVALS}{self.approval_id}"
        if not self.approval_url.endswith(suffix):
            return self.approval_url  # not the coordinator's own API link: leave it as it was given
        return console_approval_url(self.approval_url[: -len(suffix)], self.approval_id)


def slack_payload(notice: ApprovalNotice) -> dict[str, Any]:
    """A Slack incoming-webhook body with Block Kit blocks and a plain-text fallback."""
    reasons = "\n".join(f"• {reason}" for reason in notice.reasons) or "• policy requires a human decision"
    return {
        "text": f"{notice.title()} (task {notice.task_id})",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": notice.title()[:150]}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Task*\n`{notice.task_id}`"},
                    {"type": "mrkdwn", "text": f"*Expires*\n{notice.expires_at.isoformat()}"},
                    {"type": "mrkdwn", "text": f"*Arguments digest*\n`{notice.args_digest[:16]}…`"},
                    {"type": "mrkdwn", "text": f"*Trace*\n`{notice.trace_id or '-'}`"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Why*\n{reasons}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{notice.args_text()}```"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Review and decide"},
                        "url": notice.review_url,
                        "style": "primary",
                    }
                ],
            },
        ],
    }


def teams_payload(notice: ApprovalNotice) -> dict[str, Any]:
    """A Teams workflow-webhook body: a message with one Adaptive Card attachment."""
    facts = [
        {"title": "Task", "value": notice.task_id},
        {"title": "Agent", "value": notice.agent_id},
        {"title": "Tool", "value": notice.tool},
        {"title": "Expires", "value": notice.expires_at.isoformat()},
        {"title": "Arguments digest", "value": notice.args_digest},
        {"title": "Trace", "value": notice.trace_id or "-"},
    ]
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": notice.title(), "wrap": True},
        {"type": "FactSet", "facts": facts},
        {"type": "TextBlock", "text": "Why", "weight": "Bolder"},
        *({"type": "TextBlock", "text": f"- {reason}", "wrap": True} for reason in notice.reasons),
        {"type": "TextBlock", "text": notice.args_text(), "fontType": "Monospace", "wrap": True},
    ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "Review and decide", "url": notice.review_url}],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }


def render(notice: ApprovalNotice, webhook_format: WebhookFormat) -> dict[str, Any]:
    """The webhook body in the chosen format."""
    return teams_payload(notice) if webhook_format == "teams" else slack_payload(notice)
