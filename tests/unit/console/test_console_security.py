"""A decision is accepted only from the console's own script: the checks that stop a cross-site one."""

from __future__ import annotations

import pytest

from agentcage.console.security import (
    CONTENT_SECURITY_POLICY,
    CrossSiteRequestError,
    check_same_origin,
    security_headers,
    site_origins,
)

OWN = frozenset({"https://coord.example"})

SAME_ORIGIN = {
    "host": "coord.example",
    "origin": "https://coord.example",
    "sec-fetch-site": "same-origin",
    "content-type": "application/json",
    "x-agentcage-console": "decide",
}


def test_the_consoles_own_fetch_is_accepted() -> None:
    check_same_origin(SAME_ORIGIN, OWN)
    check_same_origin({**SAME_ORIGIN, "content-type": "application/json; charset=utf-8"}, OWN)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"x-agentcage-console": None}, "a form cannot set the header"),
        ({"content-type": "application/x-www-form-urlencoded"}, "a form's content type"),
        ({"content-type": "text/plain"}, "a no-cors fetch's content type"),
        ({"sec-fetch-site": "cross-site"}, "the browser says another site sent it"),
        ({"sec-fetch-site": "same-site"}, "a sibling subdomain"),
        ({"origin": None}, "no Origin"),
        ({"origin": "https://evil.example"}, "another origin"),
        ({"origin": "null"}, "an opaque origin (a sandboxed frame, a data: URL)"),
    ],
)
def test_a_request_missing_any_mark_of_the_consoles_own_fetch_is_refused(
    change: dict[str, str | None], why: str
) -> None:
    headers = {k: v for k, v in {**SAME_ORIGIN, **change}.items() if v is not None}

    with pytest.raises(CrossSiteRequestError) as refused:
        check_same_origin(headers, OWN)

    assert refused.value.status == 403, why


def test_the_configured_public_url_counts_as_this_site_behind_a_front_door() -> None:
    headers = {**SAME_ORIGIN, "host": "coord-internal.azurewebsites.net", "origin": "https://approve.example"}

    with pytest.raises(CrossSiteRequestError):
        check_same_origin(headers, OWN)
    check_same_origin(headers, site_origins("https://approve.example", {}))


def test_a_rebound_host_whose_origin_agrees_with_it_is_not_this_site() -> None:
    # GIVEN a DNS-rebinding page: Host and Origin both name the attacker, and the browser, seeing one
    # origin, says same-origin and lets the page set any header
    port = 7391
    rebound = {
        **SAME_ORIGIN,
        "host": f"evil.example:{port}",
        "x-forwarded-host": f"evil.example:{port}",
        "origin": f"http://evil.example:{port}",
    }
    served = site_origins(f"http://127.0.0.1:{port}", {})
    # THEN the console's own origins are what count, not the request's Host
    with pytest.raises(CrossSiteRequestError):
        check_same_origin(rebound, served)
    check_same_origin({**rebound, "origin": f"http://localhost:{port}"}, served)


def test_the_sites_origins_come_from_configuration() -> None:
    assert site_origins("http://127.0.0.1:7391/", {}) == {
        "http://127.0.0.1:7391",
        "http://localhost:7391",
        "http://[::1]:7391",
    }
    assert site_origins("", {"WEBSITE_HOSTNAME": "coord.azurewebsites.net"}) == {
        "https://coord.azurewebsites.net"
    }
    assert site_origins("https://Approve.example/base", {"WEBSITE_HOSTNAME": "c.azurewebsites.net"}) == {
        "https://approve.example",
        "https://c.azurewebsites.net",
    }
    assert site_origins("", {}) == frozenset()


def test_every_answer_forbids_inline_script_framing_and_sniffing() -> None:
    headers = security_headers()

    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "style-src 'self';" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
