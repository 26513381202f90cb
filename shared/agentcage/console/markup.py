"""The console's one way to make HTML: every value is escaped unless it is already :class:`Html`.

No template engine is a dependency of the Function App (Jinja2 is only in the dev lock, MarkupSafe only
arrives transitively), and adding one for six small pages is more than they need. So the pages are
Python format strings filled by :func:`render`, which runs every value through :func:`html.escape`
(``quote=True``: safe inside double-quoted attributes too) unless it is :class:`Html`, the type only
this module's functions make. Everything a model, a tool or a requester wrote reaches a page as a plain
``str`` and therefore escaped; a page cannot forget to escape because it never calls ``escape`` itself.

Templates are constants of the console; a value's own braces are never re-read as placeholders
(``str.format`` substitutes once).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

__all__ = ["Html", "escape", "join", "render", "url_part"]


class Html(str):
    """Text that is already HTML (made by :func:`render`, :func:`escape` or :func:`join`)."""

    __slots__ = ()


def escape(value: Any) -> Html:
    """``value`` as HTML text: :class:`Html` as it is, ``None`` as nothing, anything else escaped."""
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    return Html(html.escape(str(value), quote=True))


def render(template: str, **values: Any) -> Html:
    """Fill ``template``'s ``{name}`` placeholders with the escaped ``values``.

    Numbers stay numbers (nothing in one needs escaping), so a placeholder may format them: ``{x:.2f}``.
    """
    return Html(template.format(**{name: _safe(value) for name, value in values.items()}))


def _safe(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return escape(value)


def join(parts: Iterable[Any], separator: str = "") -> Html:
    """The escaped ``parts`` one after another."""
    return Html(separator.join(escape(part) for part in parts))


def url_part(value: str) -> str:
    """``value`` as one path segment of a URL (every reserved character percent-encoded)."""
    return quote(value, safe="")
