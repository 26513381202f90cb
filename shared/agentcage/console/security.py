"""The console's response headers and its defence against cross-site decisions.

Every answer carries a strict Content-Security-Policy: nothing loads but the console's own script and
stylesheet (no inline script or style, no frames, no form posts elsewhere, no plugins), so text a model
or a tool wrote that slipped past escaping still could not run. Pages are not cached and never framed.

**Why no CSRF token.** A decision is ``POST .../decision`` with a JSON body, sent by the console's
script with ``fetch``; :func:`check_same_origin` accepts it only when

1. it carries the header ``X-Agentcage-Console: decide``. An HTML form on another site cannot set a
   header, and a cross-origin ``fetch`` that sets one (or sends ``application/json``) is preflighted
   first; the console answers no preflight and never sends ``Access-Control-Allow-*``, so the browser
   never sends the request itself;
2. its ``Content-Type`` is ``application/json`` (a form can only send three other types);
3. ``Sec-Fetch-Site``, which the browser sets and no page can, says ``same-origin`` when present;
4. ``Origin`` is present and is one of the origins the console is served from
   (:func:`site_origins`: the configured public URL, the app's own host name the platform sets, and
   under ``agentcage dev`` the loopback names with its port) -- never judged by the request's own
   ``Host``: after a DNS rebinding, ``Host`` and ``Origin`` are both the attacker's name and agree.
   (The local runtime also refuses any request not addressed to a loopback name:
   ``agentcage.local.asgi.HostGuard``.)

This is the custom-request-header defence plus Fetch Metadata and Origin verification (OWASP CSRF
cheat sheet). It needs no state: a token derived from a key made at start-up would fail as soon as the
Function App scales out to a second instance, and a key shared by every instance would be one more
stored secret, which this project has none of. App Service Authentication's session cookie is only
ever sent along; it is never what makes a request same-site.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

from agentcage.approvals.principal import LOOPBACK_HOST_NAMES, is_loopback
from agentcage.constants import WEBSITE_HOSTNAME_ENV
from agentcage.errors import GovernanceError

__all__ = [
    "CONSOLE_HEADER",
    "CONSOLE_HEADER_VALUE",
    "CONTENT_SECURITY_POLICY",
    "CrossSiteRequestError",
    "check_same_origin",
    "security_headers",
    "site_origins",
]

CONSOLE_HEADER = "x-agentcage-console"
CONSOLE_HEADER_VALUE = "decide"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class CrossSiteRequestError(GovernanceError):
    """A decision that did not come from the console's own page (403)."""

    code = "cross_site_request"


def security_headers() -> dict[str, str]:
    """The headers every console answer carries."""
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def site_origins(public_base_url: str = "", environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The origins the console is served from, as configured (never taken from a request).

    The configured public URL's; the app's default host name that App Service sets
    (``WEBSITE_HOSTNAME``, always HTTPS); and, when the public URL is a loopback one (``agentcage
    dev``), every loopback name with its port, since a person may open either ``127.0.0.1`` or
    ``localhost``.
    """
    env = os.environ if environ is None else environ
    origins: set[str] = set()
    public = _origin(public_base_url)
    if public is not None:
        origins.add(public)
        parts = urlsplit(public)
        if is_loopback(parts.hostname):
            port = f":{parts.port}" if parts.port else ""
            origins.update(f"{parts.scheme}://{name}{port}" for name in LOOPBACK_HOST_NAMES)
    platform_host = (env.get(WEBSITE_HOSTNAME_ENV) or "").strip()
    if platform_host:
        origins.add(f"https://{platform_host.lower()}")
    return frozenset(origins)


def check_same_origin(headers: Mapping[str, str], origins: Collection[str]) -> None:
    """Refuse (:class:`CrossSiteRequestError`) a decision not sent by the console's own script.

    ``headers`` have lower-case names; ``origins`` are the console's own (:func:`site_origins`). The
    rules, and why they suffice, are in the module docstring.
    """
    if headers.get(CONSOLE_HEADER, "").strip().lower() != CONSOLE_HEADER_VALUE:
        raise CrossSiteRequestError(f"a decision must be sent by the console page ({CONSOLE_HEADER} header)")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise CrossSiteRequestError("a decision is sent as application/json")
    fetch_site = headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site and fetch_site != "same-origin":
        raise CrossSiteRequestError(f"a decision must come from the console itself, not {fetch_site[:20]}")
    origin = _origin(headers.get("origin", ""))
    if origin is None:
        raise CrossSiteRequestError("a decision must say where it comes from (Origin)")
    if origin not in {o.lower() for o in origins}:
        raise CrossSiteRequestError("a decision must come from this site")
