"""The local host's read-only task views never show the per-task secret behind the message ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentcage.budget import BudgetLimits
from agentcage.ledger import MemoryLedger
from agentcage.local.state_views import task_list, task_record

LIMITS = BudgetLimits(
    tokens=1000,
    cost_micro_usd=1000,
    model_steps=3,
    tool_calls=3,
    deadline=datetime.now(UTC) + timedelta(hours=1),
)


def test_the_task_views_never_show_the_message_nonce() -> None:
    # GIVEN a task whose record carries its message-id secret
    ledger = MemoryLedger()
    task = ledger.create_task(
        agent_id="returns-coordinator", environment="local", request="refund", limits=LIMITS
    )
    assert ledger.get_task(task.task_id).message_nonce

    # WHEN the local views show it
    shown = [task_record(ledger, task.task_id), *task_list(ledger)]

    # THEN the secret is in none of them (shown, it would let a sender pre-empt the task's messages)
    assert all("message_nonce" not in record for record in shown)
    assert all(record["task_id"] == task.task_id for record in shown)
