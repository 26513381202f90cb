"""The ledger's pure rules: the transition table, ids that carry their task, keys that sort, deltas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.budget import BreakerSettings, BudgetConfig
from agentcage.budget.limits import BudgetLimits, Usage
from agentcage.errors import ApprovalNotFoundError, ConfigurationError, ReservationNotFoundError
from agentcage.ledger import (
    TRANSITIONS,
    MemoryLedger,
    Reservation,
    ReservationStatus,
    TaskState,
    keys,
    open_ledger,
    rules,
)
from agentcage.ledger.dynamodb_items import task_from_item, task_to_item

NOW = datetime(2030, 1, 1, tzinfo=UTC)
task_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_+=,@-]{1,39}", fullmatch=True)


def test_the_transition_table_is_the_documented_state_machine() -> None:
    allowed = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        ("pending", "running"), ("pending", "failed"), ("pending", "halted"),
        ("running", "awaiting_approval"), ("running", "completed"),
        ("running", "halted"), ("running", "failed"),
        ("awaiting_approval", "running"), ("awaiting_approval", "halted"), ("awaiting_approval", "failed"),
    }  # fmt: skip
    assert all(not TRANSITIONS[s] for s in TaskState if s.is_final)


@settings(max_examples=200, deadline=None)
@given(task_id=task_ids, kind=st.sampled_from(["r", "a"]))
def test_child_ids_carry_their_task_and_fit_an_envelope_identifier(task_id: str, kind: str) -> None:
    child = rules.new_child_id(task_id, kind)
    assert rules.task_of(child, kind) == task_id
    assert len(child) <= 64


@pytest.mark.parametrize(
    "value", ["", "no-dot", "task-1.x0123456789abcdef0123", "task-1.r012", "task-1.r" + "g" * 20]
)
def test_malformed_child_ids_are_simply_not_found(value: str) -> None:
    with pytest.raises(ReservationNotFoundError):
        rules.task_of(value, "r")
    with pytest.raises(ApprovalNotFoundError):
        rules.task_of(value, "a")


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(st.integers(0, 10**7), min_size=1, max_size=20))
def test_checkpoint_keys_sort_by_step(steps: list[int]) -> None:
    assert sorted(steps, key=keys.checkpoint_sk) == sorted(steps)


def test_settling_moves_reserved_to_used_and_late_settlement_replaces_the_charge() -> None:
    base = Reservation(
        reservation_id="t1.r" + "0" * 20, task_id="t1", kind="tool",
        amounts=Usage(tool_calls=1, cost_micro_usd=9), created_at=NOW, expires_at=NOW + timedelta(minutes=5),
    )  # fmt: skip
    settled = base.model_copy(update={"status": ReservationStatus.SETTLED, "actual": Usage(tool_calls=1)})
    charged = base.model_copy(update={"status": ReservationStatus.EXPIRED, "actual": base.amounts})
    late = charged.model_copy(update={"status": ReservationStatus.SETTLED, "actual": Usage(tool_calls=1)})

    used, reserved = rules.reservation_deltas(base, settled)
    assert used["tool_calls"] == 1
    assert used["cost_micro_usd"] == 0
    assert reserved["tool_calls"] == -1
    assert reserved["cost_micro_usd"] == -9

    used, reserved = rules.reservation_deltas(charged, late)
    assert used["cost_micro_usd"] == -9
    assert used["tool_calls"] == 0
    assert set(reserved.values()) == {0}


def test_task_survives_the_dynamodb_item_mapping() -> None:
    ledger = MemoryLedger(clock=lambda: NOW)
    limits = BudgetLimits(
        tokens=9, cost_micro_usd=8, model_steps=7, tool_calls=6, deadline=NOW + timedelta(hours=1)
    )
    task = ledger.create_task(
        agent_id="a", environment="dev", request="r", limits=limits, context={"k": [1, "x"]}
    )

    item = task_to_item(task)

    assert task_from_item(item) == task
    assert item["headroom_tokens"] == {"N": "9"}
    assert item["deadline_epoch"] == {"N": str(int((NOW + timedelta(hours=1)).timestamp()))}


def test_open_ledger_chooses_by_argument_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTCAGE_BUDGET_CONFIG", raising=False)
    monkeypatch.setenv("AGENTCAGE_LEDGER_BACKEND", "memory")
    assert isinstance(open_ledger(), MemoryLedger)
    with pytest.raises(ConfigurationError):
        open_ledger("postgres")
    monkeypatch.delenv("AGENTCAGE_LEDGER_TABLE", raising=False)
    with pytest.raises(ConfigurationError):
        open_ledger("dynamodb")


def test_the_configured_breaker_reaches_every_ledger_opened(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a stack's budget file with a breaker unlike the defaults (what Pulumi.prod.yaml deploys)
    budget_file = tmp_path / "budget.yaml"
    budget_file.write_text(
        "loop_threshold: 8\n"
        "breaker: {failure_threshold: 5, cooldown_seconds: 300, probe_timeout_seconds: 45}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AGENTCAGE_BUDGET_CONFIG", str(budget_file))
    configured = BreakerSettings(failure_threshold=5, cooldown_seconds=300, probe_timeout_seconds=45)

    # THEN a ledger opened without a breaker uses the file's, for every backend
    assert open_ledger("memory").breaker == configured
    assert open_ledger("sqlite", path=tmp_path / "ledger.db").breaker == configured
    # AND a budget passed in, or an explicit breaker, wins over the file
    passed = BudgetConfig(breaker=BreakerSettings(cooldown_seconds=7))
    assert open_ledger("memory", budget=passed).breaker.cooldown_seconds == 7
    explicit = BreakerSettings(cooldown_seconds=9)
    assert open_ledger("memory", budget=passed, breaker=explicit).breaker is explicit


def test_the_breaker_a_ledger_opens_with_counts_failures_the_configured_way(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    budget_file = tmp_path / "budget.yaml"
    budget_file.write_text("breaker: {failure_threshold: 2, cooldown_seconds: 120}\n", encoding="utf-8")
    monkeypatch.setenv("AGENTCAGE_BUDGET_CONFIG", str(budget_file))
    ledger = open_ledger("memory")

    ledger.record_tool_outcome("t", ok=False, now=NOW)
    opened = ledger.record_tool_outcome("t", ok=False, now=NOW)

    assert opened.tripped
    assert not ledger.circuit_admit("t", NOW + timedelta(seconds=119)).allowed
    assert ledger.circuit_admit("t", NOW + timedelta(seconds=120)).probe


def test_a_broken_budget_file_stops_open_ledger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    budget_file = tmp_path / "budget.yaml"
    budget_file.write_text("breaker: {cooldown_seconds: -1}\n", encoding="utf-8")
    monkeypatch.setenv("AGENTCAGE_BUDGET_CONFIG", str(budget_file))

    with pytest.raises(ConfigurationError, match=r"breaker\.cooldown_seconds"):
        open_ledger("memory")
