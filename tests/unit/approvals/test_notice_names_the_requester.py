"""The coordinator's approval notice names the person the task runs for (from the ledger's record)."""

from __future__ import annotations

from agentcage.ledger import MemoryLedger
from agentcage.ledger.models import Requester
from tests.functional.coordinator.coordinator_support import (
    Driver,
    FakeClock,
    FakeExecutor,
    RecordingNotifier,
    budget_config,
    make_coordinator,
)

REFUND = "Refund order O-50001 for customer C-1001, returned 45 days after purchase"
ADA = Requester(kind="person", id="5f1c0000-oid", name="Ada Lovelace", roles=("service_rep",))


def test_the_notice_of_a_refund_waiting_for_approval_names_its_requester() -> None:
    ledger = MemoryLedger(breaker=budget_config().breaker, clock=FakeClock())
    notifier = RecordingNotifier()
    coordinator = make_coordinator(ledger, notifier=notifier)
    driver = Driver(coordinator, FakeExecutor(ledger))

    started = coordinator.start_task({"request": REFUND}, requester=ADA)
    driver.steps.append(started.step)
    driver.run()

    (notice,) = notifier.notices
    assert notice.tool == "createRefund"
    assert notice.requester == "Ada Lovelace (5f1c0000-oid)"
