"""What an approver is shown: one notice, rendered for Slack or Microsoft Teams webhooks.

Its button opens the approval's page in the console (:data:`CONSOLE_PATH`), where a person sees the
exact arguments and decides with a click; the JSON route ``/api/approvals/{id}`` stays for programs.

Every console link handed to a person is made by :func:`console_url`. In the cloud, App Service
Authentication answers 401 to a browser without a session (API and MCP clients need that 401), so the
link goes through its sign-in endpoint (:data:`SIGN_IN_PATH`) with the console page as the relative
``post_login_redirect_uri``; locally, where there is no App Service Authentication, it is the page
itself. Which of the two is decided by configuration: the platform sets ``WEBSITE_AUTH_ENABLED=True``
exactly where its sign-in endpoint exists (:func:`link_settings`).

**Everything in a notice but its fixed labels is untrusted**: the arguments come from a model or an
MCP client (``createRefund.reason`` is 500 free characters), the requester's name from their directory
entry. None of it may become markup: in Slack's mrkdwn, ``<https://evil|Review and decide>`` is a link
and a run of three backticks in an argument closes the code block around the arguments; in Teams, a TextBlock
(and a fact's value) renders Markdown links. So Slack text is escaped as Slack asks (``&``, ``<``,
``>``) with ``verbatim`` on (no automatic links or mentions) and every backtick run broken, and Teams
shows untrusted text only as ``TextRun`` elements of a ``RichTextBlock``, which render no Markdown.
The one link in a notice is its button, to the console, built by :func:`approval_link`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote

from agentcage.constants import WEBSITE_AUTH_ENABLED_ENV, WEBSITE_HOSTNAME_ENV

if TYPE_CHECKING:
    from agentcage.ledger.models import Requester

__all__ = [
    "CONSOLE_PATH",
    "SIGN_IN_PATH",
    "ApprovalNotice",
    "ConsoleLinkSettings",
    "WebhookFormat",
    "approval_link",
    "console_approval_url",
    "console_url",
    "describe_requester",
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
    requester: str | None = None
    """On whose behalf the task runs (:func:`describe_requester`); ``None`` for a task recorded
    without one (before requesters were recorded)."""

    def args_text(self) -> str:
        """The arguments as indented JSON, cut to a length chat clients display."""
        text = json.dumps(self.args, indent=2, sort_keys=True, ensure_ascii=False)
        return text if len(text) <= _MAX_ARGS_CHARS else text[:_MAX_ARGS_CHARS] + "\n…"

    def title(self) -> str:
        """One line: which agent wants to call which tool."""
        return f"Approval needed: {self.agent_id} wants to call {self.tool}"

    def requester_text(self) -> str:
        """The requester as shown (a task without one says so)."""
        return self.requester or "not recorded"


def describe_requester(requester: Requester | None) -> str | None:
    """How a notice names a task's requester: name and id (a name alone can be anyone's), and what
    kind of principal it is when it is not a person."""
    if requester is None:
        return None
    name = requester.name.strip()
    who = f"{name} ({requester.id})" if name and name != requester.id else requester.id
    return who if requester.kind == "person" else f"{who}, {requester.kind}"


# --- Slack: mrkdwn, escaped ---------------------------------------------------------------------------
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ZERO_WIDTH_SPACE = "\u200b"


def _slack(text: str) -> str:
    """``text`` as literal mrkdwn: Slack's three escapes, so no ``<...>`` link, mention or command
    can form (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.translate(_SLACK_ESCAPES)


def _slack_code(text: str) -> str:
    """``text`` for the inside of a code block: escaped, and with every backtick followed by a
    zero-width space, so no run of backticks can close the block (or open an inline one)."""
    return _slack(text).replace("`", "`" + _ZERO_WIDTH_SPACE)


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: no automatic links, channel names or mentions out of the (escaped) text
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def slack_payload(notice: ApprovalNotice) -> dict[str, Any]:
    """A Slack incoming-webhook body with Block Kit blocks and a plain-text fallback."""
    reasons = (
        "\n".join(f"• {_slack(reason)}" for reason in notice.reasons) or "• policy requires a human decision"
    )
    return {
        "text": _slack(f"{notice.title()} (task {notice.task_id}, for {notice.requester_text()})"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": notice.title()[:150], "emoji": False}},
            {
                "type": "section",
                "fields": [
                    _mrkdwn(f"*Requested by*\n{_slack(notice.requester_text())}"),
                    _mrkdwn(f"*Task*\n`{_slack_code(notice.task_id)}`"),
                    _mrkdwn(f"*Expires*\n{notice.expires_at.isoformat()}"),
                    _mrkdwn(f"*Arguments digest*\n`{_slack_code(notice.args_digest[:16])}…`"),
                    _mrkdwn(f"*Trace*\n`{_slack_code(notice.trace_id or '-')}`"),
                ],
            },
            {"type": "section", "text": _mrkdwn(f"*Why*\n{reasons}")},
            {"type": "section", "text": _mrkdwn(f"```{_slack_code(notice.args_text())}```")},
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


# --- Teams: untrusted text only as TextRuns (no Markdown) ------------------------------------------------
def _runs(*runs: dict[str, Any]) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs)}


def _run(text: str, **style: Any) -> dict[str, Any]:
    """Literal text: a TextRun renders no Markdown, so ``[x](https://evil)`` stays those characters."""
    return {"type": "TextRun", "text": text, **style}


def _fact(title: str, value: str) -> dict[str, Any]:
    # Not a FactSet: a fact's value renders Markdown in Teams.
    return _runs(_run(f"{title}: ", weight="Bolder"), _run(value))


def teams_payload(notice: ApprovalNotice) -> dict[str, Any]:
    """A Teams workflow-webhook body: a message with one Adaptive Card attachment."""
    body: list[dict[str, Any]] = [
        _runs(_run(notice.title(), size="Medium", weight="Bolder")),
        _fact("Requested by", notice.requester_text()),
        _fact("Task", notice.task_id),
        _fact("Agent", notice.agent_id),
        _fact("Tool", notice.tool),
        _fact("Expires", notice.expires_at.isoformat()),
        _fact("Arguments digest", notice.args_digest),
        _fact("Trace", notice.trace_id or "-"),
        {"type": "TextBlock", "text": "Why", "weight": "Bolder"},
        *(_runs(_run(f"- {reason}")) for reason in notice.reasons),
        _runs(_run(notice.args_text(), fontType="Monospace")),
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
