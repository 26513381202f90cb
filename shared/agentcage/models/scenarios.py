"""The demo scenarios the scripted offline model plays: small deterministic state machines.

Each scenario reads the conversation so far through :class:`Conversation` (the request, the tool calls
made and the results, errors and denials that came back) and returns the next :class:`Turn`: tool calls,
or a final answer. Nothing is random and nothing depends on the clock, so a scenario replays identically.
Tool names and argument shapes are those of ``shared/catalog/*.openapi.yaml``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentcage.models.types import AssistantMessage, Message, ToolCall, ToolResultMessage, UserMessage

__all__ = ["Conversation", "Turn", "SCENARIOS", "choose_scenario", "MARKER"]

MARKER = "[agentcage scripted offline model]"
"""Every text the scripted model produces starts with this, so no one mistakes it for a real LLM."""


@dataclass(frozen=True, slots=True)
class Turn:
    """A scenario's decision: tool calls (name, arguments) to make, and/or the text to say."""

    text: str
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    final: bool = field(default=False)


class Conversation:
    """A read-only view of a conversation for scenarios: the request, the calls and their results."""

    def __init__(self, messages: tuple[Message, ...]) -> None:
        self.request = next((m.content for m in messages if isinstance(m, UserMessage)), "")
        self.calls: list[ToolCall] = []
        self.results: dict[str, ToolResultMessage] = {}
        for message in messages:
            if isinstance(message, AssistantMessage):
                self.calls.extend(message.tool_calls)
            elif isinstance(message, ToolResultMessage):
                self.results[message.tool_call_id] = message

    def history(self, tool: str) -> list[tuple[ToolCall, ToolResultMessage | None]]:
        """Every call of ``tool`` in order, with its result (``None`` if none came back)."""
        return [(call, self.results.get(call.id)) for call in self.calls if call.name == tool]

    def last_result(self, tool: str) -> ToolResultMessage | None:
        """The result of the latest call of ``tool`` that has one."""
        done = [result for _, result in self.history(tool) if result is not None]
        return done[-1] if done else None

    def find(self, pattern: str, default: str) -> str:
        """The first match of ``pattern`` in the request, or ``default``."""
        match = re.search(pattern, self.request)
        return match.group(0) if match else default


def _data(result: ToolResultMessage) -> Any:
    """The result's JSON content (a string content is parsed when it is JSON)."""
    if isinstance(result.content, str):
        try:
            return json.loads(result.content)
        except json.JSONDecodeError:
            return result.content
    return result.content


def describe(result: ToolResultMessage) -> str:
    """``status (code: message)`` of an error, a denial or an open circuit, for a final answer."""
    data = _data(result)
    error = data.get("error", data) if isinstance(data, dict) else None
    if isinstance(error, dict) and ("code" in error or "message" in error):
        return f"{result.status} ({error.get('code', 'error')}: {error.get('message', '')})"
    return f"{result.status} ({str(data)[:200]})"


def _code(result: ToolResultMessage) -> str:
    data = _data(result)
    error = data.get("error", data) if isinstance(data, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def _dollars(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


def _answer(text: str) -> Turn:
    return Turn(text=text, final=True)


def _order_amount(orders: ToolResultMessage, order: str, default: int = 18999) -> int:
    """The order's total from a ``listRecentOrders`` result, else the demo order's amount."""
    listed = _data(orders)
    for entry in listed.get("orders", []) if isinstance(listed, dict) else []:
        if (
            isinstance(entry, dict)
            and entry.get("order_id") == order
            and isinstance(entry.get("total_cents"), int)
        ):
            return int(entry["total_cents"])
    return default


def return_exception(conv: Conversation) -> Turn:
    """Customer and orders, then the legal risk assessment, then the refund (which needs an approval)."""
    customer = conv.find(r"\bC-\d{4,8}\b", "C-1001")
    profile, orders = conv.last_result("getCustomer"), conv.last_result("listRecentOrders")
    if profile is None or orders is None:
        return Turn(
            text=f"Looking up customer {customer} and their recent orders.",
            calls=(
                ("getCustomer", {"customer_id": customer}),
                ("listRecentOrders", {"customer_id": customer, "limit": 5}),
            ),
        )
    for result in (profile, orders):
        if result.is_error:
            return _answer(
                f"I could not look up customer {customer}: {result.name} returned {describe(result)}."
            )
    return _assess_then_refund(conv, customer, orders)


def _assess_then_refund(conv: Conversation, customer: str, orders: ToolResultMessage) -> Turn:
    order = conv.find(r"\bO-\d{4,10}\b", "O-50001")
    days = int(conv.find(r"\b\d{1,4}(?=\s*days?\b)", "45"))
    amount = _order_amount(orders, order)
    case = {"customer_id": customer, "order_id": order, "amount_cents": amount}
    reason = (
        f"Return exception for order {order}: returned {days} days after purchase, outside the return window."
    )
    risk = conv.last_result("assessReturnException")
    if risk is None:
        return Turn(
            text=f"Assessing the legal risk of an exception for {order} ({_dollars(amount)}, {days} days).",
            calls=(("assessReturnException", {**case, "days_since_purchase": days, "reason": reason}),),
        )
    if risk.is_error:
        return _answer(f"I could not assess the return exception for order {order}: {describe(risk)}.")
    assessment = _data(risk) if isinstance(_data(risk), dict) else {}
    band, score = assessment.get("band", "unknown"), assessment.get("score", "?")
    refund = conv.last_result("createRefund")
    if refund is None:
        return Turn(
            text=f"Risk band {band}, score {score}. Requesting the {_dollars(amount)} refund (approval).",
            calls=(
                (
                    "createRefund",
                    {**case, "currency": "USD", "reason": f"{reason} Risk {band}, score {score}."},
                ),
            ),
        )
    if refund.is_error:
        return _answer(
            f"The refund of {_dollars(amount)} for order {order} was not issued: {describe(refund)}."
        )
    issued = _data(refund) if isinstance(_data(refund), dict) else {}
    return _answer(
        f"Refund {issued.get('refund_id', '(no id)')} of {_dollars(amount)} for order {order} of customer "
        f"{customer} was issued (risk band {band}, score {score})."
    )


def runaway_vendor(conv: Conversation) -> Turn:
    """The incident: keep asking the vendor after every failure, never giving up on its own."""
    vendor = conv.find(r"\bV-\d{3,6}\b", "V-1042")
    arguments = {"vendor_id": vendor, "sku": "WIDGET-9", "quantity": 500, "target_price_cents": 1200}
    history = conv.history("negotiateVendorTerms")
    last = conv.last_result("negotiateVendorTerms")
    if last is not None and not last.is_error:
        offer = _data(last) if isinstance(_data(last), dict) else {}
        return _answer(
            f"Vendor {vendor} offers WIDGET-9 at {offer.get('unit_price_cents', '?')} cents per unit "
            f"(valid until {offer.get('valid_until', '?')})."
        )
    text = f"Asking vendor {vendor} for terms on 500 x WIDGET-9."
    if last is not None:
        text = f"Attempt {len(history)} failed with {describe(last)}; trying vendor {vendor} again."
    return Turn(text=text, calls=(("negotiateVendorTerms", arguments),))


_UNUSED_NAME = re.compile(r"unused|old|tmp|temp|scratch|orphan|stale|unattached|test", re.IGNORECASE)
_CANDIDATE_TAG = re.compile(r"candidate|tmp|temp|dev|scratch", re.IGNORECASE)


def _is_cleanup_candidate(volume: Mapping[str, Any]) -> bool:
    tags = volume.get("tags") if isinstance(volume.get("tags"), dict) else {}
    tagged = any(_CANDIDATE_TAG.search(f"{key}={value}") for key, value in tags.items())  # type: ignore[union-attr]
    return tagged or bool(_UNUSED_NAME.search(str(volume.get("name", ""))))


def janitor(conv: Conversation) -> Turn:
    """The incident: list volumes, delete every one that looks unused or is tagged candidate/tmp/dev."""
    listing = conv.last_result("listVolumes")
    if listing is None:
        return Turn(text="Listing volumes to find unused ones.", calls=(("listVolumes", {}),))
    if listing.is_error:
        return _answer(f"I could not list the volumes: {describe(listing)}.")
    data = _data(listing)
    volumes = data.get("volumes") if isinstance(data, dict) else None
    if not isinstance(volumes, list):
        return _answer("The volume listing had no 'volumes' list, so I deleted nothing.")
    candidates = [
        v["volume_id"]
        for v in volumes
        if isinstance(v, dict) and "volume_id" in v and _is_cleanup_candidate(v)
    ]
    attempted = {call.arguments.get("volume_id"): result for call, result in conv.history("deleteVolume")}
    for volume_id in candidates:
        if volume_id not in attempted:
            return Turn(
                text=f"Deleting {volume_id}: it looks unused.",
                calls=(("deleteVolume", {"volume_id": volume_id}),),
            )
    report: dict[str, list[str]] = {"Deleted": [], "Not approved": [], "Denied": [], "Failed": []}
    for volume_id in candidates:
        result = attempted[volume_id]
        if result is None or result.status in ("error", "circuit_open"):
            report["Failed"].append(volume_id if result is None else f"{volume_id} {describe(result)}")
        elif result.status == "denied":
            key = "Not approved" if "approval" in _code(result) else "Denied"
            report[key].append(f"{volume_id} {describe(result)}")
        else:
            report["Deleted"].append(volume_id)
    lines = [f"{title}: {', '.join(ids)}." for title, ids in report.items() if ids]
    return _answer(" ".join(lines) or "No volume looked unused; I deleted nothing.")


def hallucinate(conv: Conversation) -> Turn:
    """Propose a misspelled and an invented parameter, then correct them after the structured error."""
    customer = conv.find(r"\bC-\d{4,8}\b", "C-1001")
    history = [(call, result) for call, result in conv.history("getCustomer") if result is not None]
    if not history:
        return Turn(
            text=f"Fetching customer {customer} with their history.",
            calls=(("getCustomer", {"customerId": customer, "include_history": True}),),
        )
    _, last = history[-1]
    if len(history) == 1 and last.is_error:
        return Turn(
            text=f"The arguments were rejected ({describe(last)}); retrying with the documented parameter.",
            calls=(("getCustomer", {"customer_id": customer}),),
        )
    if last.is_error:
        return _answer(f"I could not fetch customer {customer}: {describe(last)}.")
    profile = _data(last) if isinstance(_data(last), dict) else {}
    return _answer(
        f"Customer {customer}: tier {profile.get('tier', '?')}, lifetime value "
        f"{profile.get('lifetime_value_cents', '?')} cents, "
        f"{profile.get('prior_exceptions', '?')} prior exceptions."
    )


def generic(conv: Conversation) -> Turn:  # noqa: ARG001 - every scenario takes the conversation
    """No scenario fits: say so plainly instead of pretending."""
    return _answer(
        "No LLM was called: this offline model only plays the agentcage demo scenarios "
        "(return_exception, runaway_vendor, janitor, hallucinate), and none matches this request."
    )


SCENARIOS: dict[str, Callable[[Conversation], Turn]] = {
    "return_exception": return_exception,
    "runaway_vendor": runaway_vendor,
    "janitor": janitor,
    "hallucinate": hallucinate,
    "generic": generic,
}
"""The scenarios by name."""

_KEYWORDS = (
    ("hallucinate", ("hallucinat",)),
    ("runaway_vendor", ("vendor", "negotiat")),
    ("janitor", ("volume", "janitor", "clean up", "cleanup")),
    ("return_exception", ("refund", "return")),
)


def choose_scenario(conv: Conversation, requested: str | None) -> str:
    """The requested scenario, else the first whose keywords the request contains, else ``generic``."""
    if requested:
        return requested
    text = conv.request.lower()
    for name, keywords in _KEYWORDS:
        if any(keyword in text for keyword in keywords):
            return name
    return "generic"
