"""Settings for every tier.

Hypothesis' per-example deadline (200 ms by default) measures the machine as much as the code: on a
shared 2-core CI runner a slow example, or one fast on re-run, fails the run as "unreliable timings".
Time limits belong in benchmarks/; here the properties are what is tested.

``make test`` runs the suite on pytest-xdist workers (``--dist loadgroup``, set in pyproject.toml), so a
session fixture runs once per worker, not once per run. Two rules keep that cheap and safe:

- Tests that share a costly session fixture are one xdist group, run by one worker: tests/infra share
  the Pulumi program run per stack (two subprocesses), so it runs once. Every other test is scheduled
  on its own, so the slow parametrized integration tests spread over the workers.
- The slow tiers (subprocesses, loopback servers, the program runs) are handed out first, so the run
  does not end waiting on one worker that drew a slow test last while the others are idle.

Anything a test shares with another worker must be its own: free ports (``port=0``, ``free_port``),
``tmp_path`` state directories, a moto_server per fixture.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("agentcage", deadline=None)
settings.load_profile("agentcage")

# nodeid prefix -> the xdist group of the tests under it (they share a session fixture).
SHARED_SESSION_GROUPS = {"tests/infra/": "infra-program-runs"}
# The slowest tiers first (most of their time is spent waiting on subprocesses and timers, which
# overlaps well with the CPU-bound unit and functional tests that follow).
SLOW_TIERS_FIRST = ("tests/integration/", "tests/artifacts/", "tests/infra/")


def _tier_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(SLOW_TIERS_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(SLOW_TIERS_FIRST)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the tests that share a session fixture, and (on xdist workers) order slow tiers first."""
    for item in items:
        for prefix, group in SHARED_SESSION_GROUPS.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Every worker sorts the same collection the same way (a stable sort), as xdist requires.
        items.sort(key=_tier_rank)
