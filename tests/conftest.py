"""Settings for every tier.

Hypothesis' per-example deadline (200 ms by default) measures the machine as much as the code: on a
shared 2-core CI runner a slow example, or one fast on re-run, fails the run as "unreliable timings".
Time limits belong in benchmarks/; here the properties are what is tested.

``make test`` runs the suite on pytest-xdist workers (``-n auto``), so a session fixture runs once per
worker, not once per run. The scheduler below (taking over xdist's default ``--dist load``) keeps that
cheap and safe:

- Tests that share a costly session fixture go to one worker as one unit: tests/infra share the
  Pulumi program run per stack (two subprocesses), so it runs once. Every other test is scheduled on
  its own, so the slow parametrized integration tests spread over the workers. (xdist's own
  ``xdist_group`` marks do nothing with pytest 9.2: xdist 3.8 renames ``item._nodeid``, which
  pytest no longer reads.)
- The slow tiers (subprocesses, loopback servers, the program runs) are handed out first, so the run
  does not end waiting on one worker that drew a slow test last while the others are idle.

Anything a test shares with another worker must be its own: free ports (``port=0``, ``free_port``),
``tmp_path`` state directories, a moto_server per fixture.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("agentcage", deadline=None)
settings.load_profile("agentcage")

# nodeid prefix -> one scheduling unit for the tests under it (they share a session fixture).
SHARED_SESSION_UNITS = {"tests/infra/": "infra-program-runs"}
# The slowest tiers first (most of their time is spent waiting on subprocesses and timers, which
# overlaps well with the CPU-bound unit and functional tests that follow).
SLOW_TIERS_FIRST = ("tests/integration/", "tests/artifacts/", "tests/infra/")


def _tier_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(SLOW_TIERS_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(SLOW_TIERS_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers, order the slow tiers first."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Every worker sorts the same collection the same way (a stable sort), as xdist requires.
        items.sort(key=_tier_rank)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own; only when xdist is loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """For ``--dist load`` (what ``-n`` alone means): one unit per shared-fixture prefix, else per test."""
    if config.getvalue("dist") != "load":
        return None  # an explicit --dist keeps xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for prefix, unit in SHARED_SESSION_UNITS.items():
                if nodeid.startswith(prefix):
                    return unit
            return nodeid

    return SharedFixtureScheduling(config, log)
