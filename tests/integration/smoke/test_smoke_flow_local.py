"""The smoke's flow driver against the local runtime: every step reported, and failures reported as such."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentcage.local import LocalConfig, LocalHost, running_host
from infra.smoke.flow import ReturnExceptionFlow
from infra.smoke.report import SmokeReport
from tests.integration.smoke.conftest import LocalRun

STEPS = [
    "start the return-exception task",
    "the refund waits for one approval",
    "approve it",
    "the task completes",
    "exactly one refund ran, under the approval",
]


def test_the_driver_plays_the_return_exception_with_one_refund(local_run: LocalRun) -> None:
    # GIVEN the flow driven against agentcage's local runtime (the development approver decides)
    steps = local_run.summary["steps"]
    # THEN every step passed, in order, timed, and the task and trace ids came back
    assert [s["name"] for s in steps] == STEPS
    assert all(s["ok"] for s in steps), steps
    assert all(s["seconds"] >= 0 for s in steps)
    assert local_run.summary["ok"] is True
    assert len(local_run.trace_id) == 32
    assert local_run.task_id.startswith("task-")
    assert "development approver" in steps[2]["detail"]


@pytest.fixture(scope="module")
def self_approving_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """A host whose development approver is the agent itself (with an approver role, so that it sees the
    approval), which may never approve its own call."""
    config = LocalConfig(
        state_dir=tmp_path_factory.mktemp("state"),
        port=0,
        retry_delay_s=0.05,
        dev_approver="returns-coordinator:approver",
    )
    with running_host(config) as started:
        yield started


def test_a_refused_approval_fails_that_step_and_stops(self_approving_host: LocalHost) -> None:
    # GIVEN a coordinator that refuses the approver (403 self_approval)
    report = SmokeReport()
    # WHEN the flow runs
    result = ReturnExceptionFlow(self_approving_host.url, timeout_s=30, interval_s=0.05).run(report)
    # THEN the approval step fails with the answer's status and code, and nothing after it ran
    assert not result.ok
    assert result.task_id is not None
    assert [s.name for s in report.steps] == STEPS[:3]
    assert [s.ok for s in report.steps] == [True, True, False]
    assert "403" in report.steps[-1].detail
    assert "self_approval" in report.steps[-1].detail


def test_an_unreachable_coordinator_fails_the_first_step() -> None:
    report = SmokeReport()
    result = ReturnExceptionFlow("http://127.0.0.1:9", timeout_s=1, interval_s=0.01).run(report)
    assert not result.ok
    assert [(s.name, s.ok) for s in report.steps] == [(STEPS[0], False)]
    assert "cannot reach" in report.steps[0].detail
