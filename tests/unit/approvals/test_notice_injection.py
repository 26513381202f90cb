"""A notice shows untrusted text (a model's arguments, a requester's name) as text: it can never form a
link, a mention, or close the block around the arguments, in Slack or in Teams; and it names the
requester."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from agentcage.approvals import ApprovalNotice, slack_payload, teams_payload
from agentcage.approvals.notice import describe_requester
from agentcage.ledger.models import Requester

CONSOLE = "https://coordinator.example/api/console/approvals/appr-1"
HOSTILE_REASON = (
    "goodwill```\n*Approved by finance* <https://evil.example/x|Review and decide> <!channel> "
    "[Review and decide](https://evil.example/y) @here &lt;b&gt; `inline`"
)
NOTICE = ApprovalNotice(
    approval_id="appr-1",
    task_id="task-1",
    agent_id="returns-coordinator",
    tool="createRefund",
    args={"order_id": "O-50001", "amount_cents": 18999, "reason": HOSTILE_REASON},
    args_digest="ab" * 32,
    expires_at=datetime(2026, 11, 21, 13, 0, tzinfo=UTC),
    approval_url=CONSOLE,
    reasons=("refund above the requester's authority <https://evil.example/z|see policy>",),
    trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    requester=describe_requester(
        Requester(kind="person", id="5f1c-oid", name="Ada <https://evil.example/n|Lovelace>", roles=())
    ),
)


def _objects(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value
        for item in value.values():
            yield from _objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


# --- Slack ------------------------------------------------------------------------------------------
def _mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn: the fallback ``text`` and each mrkdwn text object."""
    texts = [payload["text"]]
    texts += [o["text"] for o in _objects(payload["blocks"]) if o.get("type") == "mrkdwn"]
    return texts


def test_slack_untrusted_text_forms_no_link_mention_or_command() -> None:
    payload = slack_payload(NOTICE)

    # Slack's control sequences (<url|label>, <!channel>, <@user>) all need '<' and '>': none is left
    assert [text for text in _mrkdwn_texts(payload) if "<" in text or ">" in text] == []
    assert any("&lt;https://evil.example/x|Review and decide&gt;" in text for text in _mrkdwn_texts(payload))
    # no automatic links or @here out of the escaped text either
    assert all(o.get("verbatim") is True for o in _objects(payload["blocks"]) if o.get("type") == "mrkdwn")
    # the one link is the button, to the console
    urls = [o["url"] for o in _objects(payload["blocks"]) if "url" in o]
    assert urls == [CONSOLE]


def test_slack_arguments_cannot_close_their_code_block() -> None:
    payload = slack_payload(NOTICE)
    (args_text,) = [t for t in _mrkdwn_texts(payload) if "O-50001" in t]

    assert args_text.startswith("```")
    assert args_text.endswith("```")
    inside = args_text[3:-3]
    assert not re.search(r"`{2,}", inside)  # no run of backticks left to close (or open) a block
    assert "Approved by finance" in inside  # the text is still shown, as text


def test_slack_escapes_an_ampersand_so_entities_show_as_typed() -> None:
    payload = slack_payload(NOTICE)
    # "&lt;b&gt;" typed by the model must not render as "<b>": its '&' is escaped first
    assert any("&amp;lt;b&amp;gt;" in text for text in _mrkdwn_texts(payload))


# --- Teams ------------------------------------------------------------------------------------------
def test_teams_shows_untrusted_text_only_as_text_runs() -> None:
    card = teams_payload(NOTICE)["attachments"][0]["content"]

    markdown_texts = [o["text"] for o in _objects(card["body"]) if o.get("type") == "TextBlock"]
    markdown_texts += [
        f["value"] for o in _objects(card["body"]) if o.get("type") == "FactSet" for f in o["facts"]
    ]
    # Whatever Teams renders as Markdown holds only the notice's own labels
    assert all("evil" not in text and "Ada" not in text and "O-50001" not in text for text in markdown_texts)
    runs = " ".join(o["text"] for o in _objects(card["body"]) if o.get("type") == "TextRun")
    assert "[Review and decide](https://evil.example/y)" in runs  # shown, literally
    assert "O-50001" in runs
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Review and decide", "url": CONSOLE}]
    assert all(o.get("type") != "Action.OpenUrl" or o["url"] == CONSOLE for o in _objects(card))


# --- the requester ----------------------------------------------------------------------------------
def test_both_notices_name_the_requester() -> None:
    slack = " ".join(_mrkdwn_texts(slack_payload(NOTICE)))
    teams = " ".join(
        o["text"]
        for o in _objects(teams_payload(NOTICE)["attachments"][0]["content"])
        if o.get("type") == "TextRun"
    )

    assert "Requested by" in slack
    assert "5f1c-oid" in slack
    assert "Ada &lt;https://evil" in slack
    assert "Requested by" in teams
    assert "Ada <https://evil.example/n|Lovelace> (5f1c-oid)" in teams


def test_a_requester_is_named_with_its_id_and_kind() -> None:
    assert describe_requester(None) is None
    assert describe_requester(Requester(kind="person", id="oid-1", name="Ada", roles=())) == "Ada (oid-1)"
    app = Requester(kind="app", id="client-9", name="application client-9", roles=())
    assert describe_requester(app) == "application client-9 (client-9), app"
    bare = Requester(kind="development", id="dev-requester", name="", roles=())
    assert describe_requester(bare) == "dev-requester, development"
    # a task recorded without a requester says so instead of leaving the field out
    unknown = dataclasses.replace(NOTICE, requester=None)
    assert "not recorded" in " ".join(_mrkdwn_texts(slack_payload(unknown)))
