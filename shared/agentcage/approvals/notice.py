"""What an approver is shown: one notice, rendered for Slack or Microsoft Teams webhooks.

Its button opens the approval's page in the console (:data:`CONSOLE_PATH`), where a person sees the
exact arguments and decides with a click; the JSON route ``/api/approvals/{id}`` stays for programs.

Every console link handed to a person is made by :func:`console_url`. In the cloud, App Service
Authentication answers 401 to a browser without a session (API and MCP clients need that 401), so the
link goes through its sign-in endpoint (:data:`SIGN_IN_PATH`) with the console page as the relative
``post_login_redirect_uri``; locally, where there is no App Service Authentication, it is the page
itself. Which of the two is decided by configuration: the platform sets ``WEBSITE_AUTH_ENABLED=True``
exactly where its sign-in endpoint exists (:func:`link_settings`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import quote

from agentcage.constants import WEBSITE_AUTH_ENABLED_ENV, WEBSITE_HOSTNAME_ENV

__all__ = [
    "CONSOLE_PATH",
    "SIGN_IN_PATH",
    "ApprovalNotice",
    "ConsoleLinkSettings",
    "WebhookFormat",
    "approval_link",
    "console_approval_url",
    "console_url",
    "link_settings",
    "render",
    "slack_payload",
    "teams_payload",
]

WebhookFormat = Literal["slack", "teams"]
_MAX_ARGS_CHARS = 1500
CONSOLE_PATH: Final = "/api/console"
"""Where the approval console is served (under the Function App's ``api`` route prefix, and locally)."""
SIGN_IN_PATH: Final = "/.auth/login/aad"
"""App Service Authentication's Entra sign-in endpoint: it signs a person in, then redirects."""


def console_url(page: str = "", *, base_url: str = "", sign_in: bool = False) -> str:
    """The link that takes a person to the console page ``page`` (a path under :data:`CONSOLE_PATH`).

    With ``sign_in``, the link is the platform's sign-in endpoint with the page as a *relative*
    ``post_login_redirect_uri``: App Service Authentication redirects only to its own host (no
    external redirect URL is allowed), so the person lands on this app's console, signed in.
    """
    if page and not page.startswith("/"):
        raise ValueError(f"a console page is a path starting with '/': {page!r}")
    target = f"{CONSOLE_PATH}{page}"
    base = base_url.rstrip("/")
    if not sign_in:
        return f"{base}{target}"
    return f"{base}{SIGN_IN_PATH}?post_login_redirect_uri={quote(target, safe='/')}"


def console_approval_url(base_url: str, approval_id: str, *, sign_in: bool = False) -> str:
    """The link to one approval's console page: where a notice sends a person to decide."""
    return console_url(f"/approvals/{quote(approval_id, safe='')}", base_url=base_url, sign_in=sign_in)


@dataclass(frozen=True, slots=True)
class ConsoleLinkSettings:
    """Where console links point in this deployment, and whether they go through sign-in."""

    base_url: str = ""
    sign_in: bool = False


def link_settings(public_base_url: str = "", environ: Mapping[str, str] | None = None) -> ConsoleLinkSettings:
    """The deployment's console links, from its configuration.

    ``sign_in``: App Service Authentication is on (the platform's ``WEBSITE_AUTH_ENABLED=True``).
    ``base_url``: the configured public URL, else the app's primary host name the platform sets
    (``WEBSITE_HOSTNAME``), so a notice's link is absolute even where no public URL is configured.
    """
    env = os.environ if environ is None else environ
    sign_in = (env.get(WEBSITE_AUTH_ENABLED_ENV) or "").strip().lower() == "true"
    host = (env.get(WEBSITE_HOSTNAME_ENV) or "").strip()
    base = public_base_url.rstrip("/") or (f"https://{host}" if host else "")
    return ConsoleLinkSettings(base_url=base, sign_in=sign_in)


def approval_link(
    approval_id: str, *, public_base_url: str = "", environ: Mapping[str, str] | None = None
) -> str:
    """The link a notice hands a person for one approval, as this deployment serves the console."""
    where = link_settings(public_base_url, environ)
    return console_approval_url(where.base_url, approval_id, sign_in=where.sign_in)


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
    """The console link a person follows to decide (:func:`approval_link`)."""
    reasons: tuple[str, ...] = field(default_factory=tuple)
    trace_id: str | None = None

    def args_text(self) -> str:
        """The arguments as indented JSON, cut to a length chat clients display."""
        text = json.dumps(self.args, indent=2, sort_keys=True, ensure_ascii=False)
        return text if len(text) <= _MAX_ARGS_CHARS else text[:_MAX_ARGS_CHARS] + "\n…"

    def title(self) -> str:
        """One line: which agent wants to call which tool."""
        return f"Approval needed: {self.agent_id} wants to call {self.tool}"


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
                        "url": notice.approval_url,
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
        "actions": [{"type": "Action.OpenUrl", "title": "Review and decide", "url": notice.approval_url}],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }


def render(notice: ApprovalNotice, webhook_format: WebhookFormat) -> dict[str, Any]:
    """The webhook body in the chosen format."""
    return teams_payload(notice) if webhook_format == "teams" else slack_payload(notice)
