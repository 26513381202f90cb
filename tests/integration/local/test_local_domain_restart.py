"""The data services' tables outlive the host: a refunded order stays refunded after a restart.

The first host is ``agentcage dev`` in a subprocess, killed with SIGKILL once the refund is issued (no
clean shutdown, nothing flushed on the way out); the second is an in-process host on the same state
directory with the default in-process DynamoDB (moto), which must find the refund where the first left
it and refuse to issue another.
"""

from __future__ import annotations

from pathlib import Path

from agentcage.local import LocalConfig, running_host
from agentcage.local.client import AgentcageClient
from agentcage.local.demo import RETURN_REQUEST, DemoRunner
from agentcage.local.demo_state import DomainState
from tests.integration.local.conftest import DevProcess, dev_environment

ORDER = "O-50001"
# An upper bound for a loaded 2-core machine, not a measurement.
SETTLED_WITHIN_S = 120.0


def test_a_refund_survives_a_killed_host_and_a_second_refund_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # GIVEN an order refunded in full through the API of `agentcage dev` (in-process DynamoDB)
    first = DevProcess(state, dev_environment(POWERTOOLS_LOG_LEVEL="ERROR"), [])
    try:
        client = AgentcageClient(first.url)
        task = client.start_task(RETURN_REQUEST, context={"scenario": "return_exception"})["task_id"]
        pending = client.wait_settled(task, timeout_s=SETTLED_WITHIN_S)
        assert pending["state"] == "awaiting_approval", pending
        client.decide(pending["pending_approvals"][0]["approval_id"], "approve")
        done = client.wait_settled(task, timeout_s=SETTLED_WITHIN_S)
        assert done["state"] == "completed", done
        assert "was issued" in str(done["final_answer"])
        # WHEN the host is killed without any chance to clean up
        first.kill()
    finally:
        first.stop()
    # THEN a new host on the same state finds the order refunded, with its one refund
    config = LocalConfig(state_dir=state, port=0, retry_delay_s=0.05)
    with running_host(config) as host:
        refunds = DomainState(host.aws).refunds(ORDER)
        order = host.aws.repository().get_order(ORDER)
        assert len(refunds) == 1, refunds
        assert order.refunded_cents == order.total_cents == refunds[0]["amount_cents"]
        # AND the same refund asked for and approved again is refused by the refunds service
        again = DemoRunner(host, timeout_s=SETTLED_WITHIN_S).return_exception()
        assert again.state == "completed"
        assert "was not issued" in again.outcome, again.outcome
        assert "conflict" in again.outcome, again.outcome
        assert DomainState(host.aws).refunds(ORDER) == refunds


def test_reset_seed_puts_the_seed_back_over_a_kept_refund(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = LocalConfig(state_dir=state, port=0, retry_delay_s=0.05)
    with running_host(config) as host:
        assert DemoRunner(host, timeout_s=SETTLED_WITHIN_S).return_exception().passed
        assert host.aws.repository().get_order(ORDER).refunded_cents > 0
    # WHEN the host starts again with --reset-seed
    with running_host(LocalConfig(state_dir=state, port=0, retry_delay_s=0.05, reset_seed=True)) as host:
        # THEN the seeded order is refundable again (the refund record itself is kept)
        assert host.aws.repository().get_order(ORDER).refunded_cents == 0
