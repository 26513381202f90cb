"""The frame every console page shares, and the small pieces several pages use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from agentcage.approvals import Principal
from agentcage.console.markup import Html, join, render
from agentcage.ledger.models import BudgetState

__all__ = ["budget_gauges", "countdown", "money", "page", "when"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · agentcage console</title>
<link rel="icon" href="{base}/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{base}/static/console.css">
<script src="{base}/static/console.js" defer></script>
</head>
<body>
<header class="top">
<a class="brand" href="{base}/">agentcage console</a>
<nav>{nav}</nav>
<p class="who">{who}</p>
</header>
<main>
<h1>{title}</h1>
{content}
</main>
</body>
</html>
"""

_SECTIONS = (
    ("approvals", "Pending approvals", "/"),
    ("tasks", "Tasks", "/tasks"),
    ("circuits", "Circuits", "/circuits"),
)


def _who(principal: Principal | None) -> Html:
    if principal is None:
        return Html("not signed in")
    roles = ", ".join(principal.roles) or "no roles"
    development = " — development principal, not a signed-in person" if principal.development else ""
    return render(
        'signed in as <strong>{name}</strong> <span class="muted">({roles}){dev}</span>',
        name=principal.name,
        roles=roles,
        dev=development,
    )


def page(title: str, content: Html, *, base: str, principal: Principal | None, section: str = "") -> bytes:
    """A whole page: the frame with ``content`` in it, as UTF-8."""
    nav = join(
        render(
            '<a href="{href}"{current}>{label}</a>',
            href=f"{base}{path}",
            label=label,
            current=Html(' aria-current="page"') if key == section else Html(""),
        )
        for key, label, path in _SECTIONS
    )
    return render(_PAGE, title=title, base=base, nav=nav, who=_who(principal), content=content).encode()


def when(moment: datetime | None) -> Html:
    """A moment as a ``<time>`` a person reads in UTC."""
    if moment is None:
        return Html('<span class="muted">—</span>')
    return render(
        '<time datetime="{iso}">{text}</time>',
        iso=moment.isoformat(),
        text=moment.strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


def countdown(expires_at: datetime, now: datetime) -> Html:
    """Time left until ``expires_at``; the console's script keeps it ticking."""
    seconds = int((expires_at - now).total_seconds())
    text = "expired" if seconds <= 0 else f"{seconds // 60} min {seconds % 60:02d} s left"
    return render(
        '<time class="countdown" datetime="{iso}" data-expires="{iso}">{text}</time>',
        iso=expires_at.isoformat(),
        text=text,
    )


def money(micro_usd: int) -> str:
    """Micro-dollars as dollars and cents."""
    return f"${micro_usd / 1_000_000:,.2f}"


_GAUGES: tuple[tuple[str, str, Callable[[int], str]], ...] = (
    ("cost_micro_usd", "cost", money),
    ("tokens", "tokens", lambda v: f"{v:,}"),
    ("model_steps", "model steps", str),
    ("tool_calls", "tool calls", str),
)


def budget_gauges(budget: BudgetState, *, compact: bool = False) -> Html:
    """A ``<meter>`` per budget dimension, used and left; ``compact``: only the one nearest its limit."""
    rows = []
    limits = budget.limits.amounts()
    gauges = _GAUGES
    if compact:
        gauges = (max(_GAUGES, key=lambda g: getattr(budget.used, g[0]) / max(getattr(limits, g[0]), 1)),)
    for field, label, shown in gauges:
        used, limit, left = (
            getattr(budget.used, field),
            getattr(limits, field),
            getattr(budget.remaining, field),
        )
        rows.append(
            render(
                '<div class="gauge"><span class="gauge-label">{label}</span>'
                '<meter min="0" max="{limit}" value="{used}" low="{low}" high="{high}" optimum="0">'
                "{used_text}</meter>"
                '<span class="gauge-text">{used_text} used of {limit_text}; {left_text} left</span></div>',
                label=label,
                limit=max(limit, 1),
                used=used,
                low=limit * 0.6,
                high=limit * 0.85,
                used_text=shown(used),
                limit_text=shown(limit),
                left_text=shown(left),
            )
        )
    return join(rows)
