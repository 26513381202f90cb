"""The console in a real browser: Debian's chromium driven by Playwright against the local runtime.

``make browser`` (a step of ``make test``) installs ``/usr/bin/chromium`` from apt; Playwright's own
browser download is never used. Each person is a browser context whose every request (pages and the
decision ``fetch``) carries the local runtime's development-principal header, as App Service
Authentication's session would name them in the cloud. Screenshots of every page go to the directory
``console_screenshots`` prints (``AGENTCAGE_TEST_ARTIFACTS`` chooses its parent).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcage.approvals.principal import DEV_PRINCIPAL_HEADER
from agentcage.local import LocalConfig, LocalHost, running_host
from agentcage.local.client import AgentcageClient
from agentcage.local.config import DOMAIN_TABLE
from functions.aws.services.seed import load_seed_data

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUESTER = "dev-requester"
APPROVER = "dev-approver"
AUDITOR = "dev-auditor"
COLLEAGUE = "dev-colleague"
SETTLED_WITHIN_S = 120.0  # a bound for a loaded 2-core machine, not a measurement
UI_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """The local runtime on a loopback port, for one module."""
    state = tmp_path_factory.mktemp("console-state")
    with running_host(LocalConfig(state_dir=state, port=0, retry_delay_s=0.05)) as started:
        yield started


@pytest.fixture(autouse=True)
def fresh_seed(host: LocalHost) -> None:
    """Every test starts from the seed (a refunded order, a changed customer, put back)."""
    load_seed_data(host.aws.client(), DOMAIN_TABLE, overwrite=True)


def api_as(host: LocalHost, principal: str) -> AgentcageClient:
    """The coordinator's API as one development principal."""
    return AgentcageClient(host.url, headers={DEV_PRINCIPAL_HEADER: principal})


@pytest.fixture(scope="session")
def console_screenshots(pytestconfig: pytest.Config) -> Path:
    """Where the tests save a screenshot of each page (said on the terminal, so a CI log says where)."""
    parent = Path(os.environ.get("AGENTCAGE_TEST_ARTIFACTS") or tempfile.gettempdir())
    folder = parent / "agentcage-console-screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"console screenshots: {folder}")
    print(f"console screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium; the suite fails (not skips) without it: ``make browser`` installs it."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` (make test does) to install Debian's chromium"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


class Person:
    """One signed-in person's browser tab, with what the page reported (CSP violations, script errors)."""

    def __init__(self, browser: Any, host: LocalHost, principal: str) -> None:
        self.host = host
        self.context = browser.new_context(
            extra_http_headers={DEV_PRINCIPAL_HEADER: principal}, viewport={"width": 1280, "height": 900}
        )
        self.context.set_default_timeout(UI_TIMEOUT_MS)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on(
            "console",
            lambda message: (
                self.problems.append(message.text) if message.type in ("error", "warning") else None
            ),
        )

    def open(self, path: str) -> Any:
        """Navigate to a console path; returns the navigation's response."""
        return self.page.goto(f"{self.host.url}{path}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def person(browser: Any, host: LocalHost) -> Iterator[Callable[[str], Person]]:
    """Opens a browser context as a development principal; closed after the test."""
    opened: list[Person] = []

    def open_as(principal: str) -> Person:
        opened.append(Person(browser, host, principal))
        return opened[-1]

    yield open_as
    for each in opened:
        each.close()
