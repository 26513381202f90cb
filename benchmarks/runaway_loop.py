"""Replays the vendor-down incident: an agent keeps re-negotiating with a vendor endpoint that is down.

The vendor's ``negotiateVendorTerms`` endpoint answers 404, then 503 for ever. A scripted agent
does what the incident's agent did: every step it makes one model call, then asks the vendor again
with a slightly different target price (so no two calls are identical: the loop detector does not
fire, the circuit breaker has to). Each model call is priced as a fixed recorded step, stated in the
output. Governed, the agent runs through agentcage's ledger (SQLite), budget guard and per-tool
circuit breaker; ungoverned, the same script runs until a cap of 300 calls.

A second task, started while the circuit is open, is answered ``circuit_open`` at once. After the
cool-down, eight tasks want the vendor at the same moment: exactly one probe goes through (the
vendor is still down, so the circuit opens again).

Usage: ``python benchmarks/runaway_loop.py``. The last line of output is one JSON object.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

from agentcage.budget import BreakerSettings, BudgetConfig, BudgetGuard, ModelPrice, serialize_request
from agentcage.envelopes import args_digest
from agentcage.errors import BudgetError, CircuitOpenError
from agentcage.ledger import Ledger, SQLiteLedger, TaskState

TOOL = "negotiateVendorTerms"
MODEL = "gpt-4o"
PRICE = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
# One step of the procurement agent, fixed: a system prompt, the request and the vendor tool, as
# sent; the script reports 2,900 input and 120 output tokens for it (its serialized size, printed
# as request_bytes, is the ledger's upper bound for the input tokens).
INPUT_TOKENS, OUTPUT_TOKENS = 2_900, 120
PROMPT = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "You are the procurement agent. Negotiate the best unit price. " * 110},
        {
            "role": "user",
            "content": "Get vendor V-1042 to quote 500 units of SKU-77 at or below 19.00 USD. " * 70,
        },
    ],
    "tools": [{"type": "function", "function": {"name": TOOL, "parameters": {"type": "object"}}}],
}
UNGOVERNED_CAP = 300
BREAKER = BreakerSettings(failure_threshold=3, cooldown_seconds=60, probe_timeout_seconds=60)
CONFIG = BudgetConfig(
    prices={MODEL: PRICE},
    breaker=BREAKER,
    min_useful_output_tokens=256,
    request_overhead_tokens=16,
)
BUDGET = {
    "tokens": 60_000,
    "cost_micro_usd": 500_000,
    "model_steps": 30,
    "tool_calls": 20,
    "deadline_seconds": 900,
}


class Clock:
    """The ledger's clock, moved by hand so the cool-down passes without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class Vendor:
    """The vendor backend: 404 for the first call, 503 after; counts every call that reaches it."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def negotiate(self) -> int:
        with self._lock:
            self.calls += 1
            return 404 if self.calls == 1 else 503


def _args(attempt: int) -> dict[str, Any]:
    return {"vendor_id": "V-1042", "sku": "SKU-77", "quantity": 500, "target_price_cents": 1900 - 5 * attempt}


def _governed_step(guard: BudgetGuard, task_id: str, vendor: Vendor, attempt: int) -> str:
    """One step of the scripted agent: a model call, then the vendor. Returns what the step ended with."""
    with guard.model_call(task_id, model=MODEL, request=PROMPT, requested_max_tokens=1024) as call:
        call.settle(INPUT_TOKENS, OUTPUT_TOKENS)
    admitted = guard.admit_tool_call(task_id, TOOL, args_digest(_args(attempt)))
    status = vendor.negotiate()
    guard.finish_tool_call(admitted.reservation, ok=status < 400, detail=f" (last answer {status})")
    return str(status)


def _run_task(ledger: Ledger, guard: BudgetGuard, vendor: Vendor, attempts: int) -> dict[str, Any]:
    task = ledger.create_task(
        agent_id="procurement-agent",
        environment="dev",
        request="negotiate SKU-77 with V-1042",
        limits=CONFIG.limits_for(BUDGET, ledger.now()),
    )
    ledger.transition(task.task_id, "running")
    answers: list[str] = []
    for attempt in range(attempts):
        try:
            answers.append(_governed_step(guard, task.task_id, vendor, attempt))
        except CircuitOpenError:
            answers.append("circuit_open")  # returned to the model as a ToolResult; the agent tries again
        except BudgetError as error:
            answers.append(error.code)
        if ledger.get_task(task.task_id).state is not TaskState.RUNNING:
            break
    final = ledger.get_task(task.task_id)
    return {"task_id": task.task_id, "answers": answers, "state": final.state.value, "task": final}


def _probe_race(ledger: Ledger, guard: BudgetGuard, vendor: Vendor, contenders: int) -> dict[str, Any]:
    tasks = []
    for _ in range(contenders):
        task = ledger.create_task(
            agent_id="procurement-agent", environment="dev", request="negotiate",
            limits=CONFIG.limits_for(BUDGET, ledger.now()),
        )  # fmt: skip
        tasks.append(ledger.transition(task.task_id, "running").task_id)
    barrier = threading.Barrier(contenders)
    outcomes: list[str] = []
    lock = threading.Lock()
    attempts = count(100)

    def contender(task_id: str) -> None:
        barrier.wait()
        try:
            outcome = _governed_step(guard, task_id, vendor, next(attempts))
        except CircuitOpenError:
            outcome = "circuit_open"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=contender, args=(task_id,)) for task_id in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"outcomes": outcomes}


def _ungoverned() -> dict[str, Any]:
    vendor = Vendor()
    tokens = cost = 0
    for _attempt in range(UNGOVERNED_CAP):  # nothing stops it but the cap
        tokens += INPUT_TOKENS + OUTPUT_TOKENS
        cost += PRICE.cost_micro_usd(INPUT_TOKENS, OUTPUT_TOKENS)
        vendor.negotiate()
    return {"calls_to_failing_tool": vendor.calls, "tokens_spent": tokens, "cost_micro_usd": cost,
            "stopped_by": f"the cap of {UNGOVERNED_CAP} calls"}  # fmt: skip


def main() -> None:
    logging.getLogger("agentcage").setLevel(logging.ERROR)  # the halts are in the JSON below
    clock = Clock()
    with tempfile.TemporaryDirectory() as directory:
        ledger = SQLiteLedger(Path(directory) / "ledger.db", breaker=BREAKER, clock=clock)
        guard = BudgetGuard(ledger, CONFIG)
        vendor = Vendor()

        first = _run_task(ledger, guard, vendor, attempts=1000)
        calls_to_failing_tool = vendor.calls
        used = first["task"].used

        clock.now += timedelta(seconds=5)  # a second task starts while the circuit is open
        before = vendor.calls
        second = _run_task(ledger, guard, vendor, attempts=4)
        calls_while_open = vendor.calls - before

        clock.now += timedelta(seconds=BREAKER.cooldown_seconds)
        before = vendor.calls
        race = _probe_race(ledger, guard, vendor, contenders=8)
        probes_after_cooldown = vendor.calls - before
        circuit = ledger.circuit(TOOL)
        ledger.close()

    result = {
        "benchmark": "runaway_loop",
        "backend": "sqlite",
        "tool": TOOL,
        "vendor_answers": "404, then 503",
        "model_tokens_per_step": {"input": INPUT_TOKENS, "output": OUTPUT_TOKENS, "model": MODEL,
                                  "usd_per_million": {"input": "2.50", "output": "10.00"},
                                  "request_bytes": len(serialize_request(PROMPT).encode("utf-8"))},
        "breaker": {"failure_threshold": BREAKER.failure_threshold,
                    "cooldown_seconds": BREAKER.cooldown_seconds},
        "calls_to_failing_tool": calls_to_failing_tool,
        "tokens_spent": used.tokens,
        "cost_micro_usd_spent": used.cost_micro_usd,
        "budget_tokens": BUDGET["tokens"],
        "budget_cost_micro_usd": BUDGET["cost_micro_usd"],
        "halt_reason": first["task"].halt_reason,
        "calls_while_open": calls_while_open,
        "second_task_answers": second["answers"],
        "probes_after_cooldown": probes_after_cooldown,
        "probe_contenders": len(race["outcomes"]),
        "probe_race_outcomes": sorted(race["outcomes"]),
        "circuit_after_probe": circuit.state.value,
        "ungoverned": _ungoverned(),
    }  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
