"""The executor's lease in the local runtime: the retry delay, never less than a floor.

The local broker does not deduplicate, so a repeated approval re-sends the same ToolRequest at once;
with a lease of the retry delay alone (0 with ``--retry-delay 0``), that copy would be recovered and
run while the first is still inside its call.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcage.constants import EXECUTOR_LEASE_SECONDS_ENV
from agentcage.local.config import EXECUTOR_LEASE_FLOOR_S, LocalConfig, app_settings
from functions.aws.executor import executor_lease_seconds


@pytest.mark.parametrize(
    ("retry_delay_s", "expected"),
    [(0.0, EXECUTOR_LEASE_FLOOR_S), (0.05, EXECUTOR_LEASE_FLOOR_S), (7.5, 7.5)],
)
def test_the_local_lease_is_the_retry_delay_but_never_below_the_floor(
    tmp_path: Path, retry_delay_s: float, expected: float
) -> None:
    settings = app_settings(LocalConfig(state_dir=tmp_path, retry_delay_s=retry_delay_s), "http://x", {})

    assert executor_lease_seconds(None, settings) == expected
    assert expected >= 3.0  # a copy sent at once never finds an attempt that may still run "dead"


def test_an_explicit_lease_in_the_environment_is_kept(tmp_path: Path) -> None:
    settings = app_settings(
        LocalConfig(state_dir=tmp_path, retry_delay_s=0), "http://x", {EXECUTOR_LEASE_SECONDS_ENV: "0.5"}
    )
    assert executor_lease_seconds(None, settings) == 0.5
