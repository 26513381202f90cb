"""Replays the vendor-down incident through the shipped path, against an ungoverned loop in the same run.

The incident: an agent keeps re-negotiating with a vendor endpoint that is down. The scripted model
(``agentcage.models.ScriptedModel``, scenario ``runaway_vendor``) asks the vendor again after every
failure and never gives up on its own; the vendor data service (``functions/aws/services/vendor.py``)
is told to answer 404, then 503 for ever.

- governed: the local runtime as ``agentcage dev`` runs it (:class:`agentcage.local.LocalHost`: the
  coordinator's functions, the durable local queues, the tool executor Lambda behind them, the data
  services on moto's DynamoDB, the SQLite ledger). Tasks are started over HTTP (``POST /api/tasks``)
  and read back over HTTP (``GET /api/tasks/{id}``); the vendor's calls are counted by the vendor
  service itself (its own counter in the domain table), not by anything in the cage. The budget file
  (``AGENTCAGE_BUDGET_CONFIG``, the setting a stack deploys) prices the scripted model at gpt-4o
  rates and keeps the breaker's default threshold, with a cool-down short enough to wait for.

  1. One task runs until the cage stops it: ``calls_to_failing_tool``, ``tokens_spent``,
     ``halt_reason``.
  2. A second task starts while the circuit is open: ``calls_while_open`` (vendor calls it caused).
  3. After the cool-down, ``--contenders`` tasks start at the same moment: ``probes_after_cooldown``
     is how many of their calls reached the vendor (one probe, which fails, so the circuit opens again).

- ungoverned: the same scripted model in a plain loop, each call sent straight to the same vendor
  service through the executor's in-process transport, with nothing to stop it but a cap of 300 calls.

Usage: ``python benchmarks/runaway_loop.py [--cooldown 10] [--contenders 8]``. The last line of output
is one JSON object; the run exits 1 when the governed figures miss their goals.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the executor's in-process transport lives in functions/

# ruff: noqa: E402 - after the path is set
from agentcage.budget import BreakerSettings, ModelPrice
from agentcage.constants import BUDGET_CONFIG_ENV, LOCAL_TIMER_SECONDS_ENV
from agentcage.gate import GovernanceGate
from agentcage.local import LocalConfig, LocalHost
from agentcage.local.client import AgentcageClient
from agentcage.local.demo import VENDOR_ID, VENDOR_REQUEST, VENDOR_TOOL
from agentcage.local.demo_state import DomainState
from agentcage.models import (
    SCRIPTED_MODEL_NAME,
    AssistantMessage,
    Message,
    ScriptedModel,
    SystemMessage,
    ToolResultMessage,
    UserMessage,
)

AGENT, SCENARIO = "procurement-agent", "runaway_vendor"
PRICE = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
MAX_TOKENS = 1024
UNGOVERNED_CAP = 300
TASK_TIMEOUT_S = 180.0  # an upper bound on a loaded machine, not a measurement


# --- governed: the local runtime ---------------------------------------------------------------------
def _budget_file(directory: Path, cooldown_s: float) -> Path:
    """The deployment's budget file: gpt-4o prices for the scripted model, the default breaker threshold."""
    breaker = BreakerSettings(cooldown_seconds=cooldown_s)
    document = {
        "prices": {SCRIPTED_MODEL_NAME: json.loads(PRICE.model_dump_json())},
        "breaker": breaker.model_dump(),
    }
    path = directory / "budget.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _finished(client: AgentcageClient, task_ids: list[str]) -> list[dict[str, Any]]:
    """Wait until every task is final (or waiting for a person), over HTTP."""
    return [client.wait_settled(task_id, timeout_s=TASK_TIMEOUT_S) for task_id in task_ids]


def _answers(task: dict[str, Any]) -> list[str]:
    """What each of the task's vendor calls was answered, in order (``error``, ``circuit_open``, ...)."""
    return [
        str((call.get("result") or {}).get("status") or call.get("outcome"))
        for step in task.get("steps") or []
        for call in step.get("calls") or []
        if call.get("tool") == VENDOR_TOOL
    ]


def _summary(task: dict[str, Any]) -> dict[str, Any]:
    budget = task.get("budget") or {}
    used, limits = budget.get("used") or {}, budget.get("limits") or {}
    return {
        "state": task.get("state"),
        "halt_reason": task.get("halt_reason"),
        "model_steps": used.get("model_steps"),
        "tokens_spent": used.get("tokens"),
        "tokens_limit": limits.get("tokens"),
        "cost_micro_usd_spent": used.get("cost_micro_usd"),
        "cost_micro_usd_limit": limits.get("cost_micro_usd"),
        "vendor_call_answers": _answers(task),
    }


def governed_run(host: LocalHost, cooldown_s: float, contenders: int) -> dict[str, Any]:
    """The three phases through HTTP; vendor calls read from the vendor's own counter."""
    client = AgentcageClient(host.url, timeout_s=60)
    domain = DomainState(host.aws)

    def start() -> str:
        return str(client.start_task(VENDOR_REQUEST, agent=AGENT, context={"scenario": SCENARIO})["task_id"])

    host.aws.repository().set_vendor_failure_mode("404-then-503", VENDOR_ID)  # resets its call counter
    [first] = _finished(client, [start()])
    calls_to_failing_tool = domain.vendor_calls(VENDOR_ID)
    circuit = host.ledger().circuit(VENDOR_TOOL)
    opened_at = circuit.opened_at

    still_open = opened_at is not None and (datetime.now(UTC) - opened_at).total_seconds() < cooldown_s
    [second] = _finished(client, [start()])
    calls_while_open = domain.vendor_calls(VENDOR_ID) - calls_to_failing_tool

    if opened_at is not None:  # wait out the cool-down, then let the contenders race for the probe
        time.sleep(max(0.0, cooldown_s - (datetime.now(UTC) - opened_at).total_seconds()) + 0.5)
    before = domain.vendor_calls(VENDOR_ID)
    with ThreadPoolExecutor(max_workers=contenders) as pool:
        racers = list(pool.map(lambda _: start(), range(contenders)))
    raced = _finished(client, racers)
    probes_after_cooldown = domain.vendor_calls(VENDOR_ID) - before
    after = host.ledger().circuit(VENDOR_TOOL)
    host.aws.repository().set_vendor_failure_mode("none", VENDOR_ID)
    outcomes = Counter(answer for task in raced for answer in _answers(task)[:1])
    return {
        "calls_to_failing_tool": calls_to_failing_tool,
        **_summary(first),
        "circuit_after_first_task": circuit.state.value,
        "calls_while_open": calls_while_open,
        "second_task": {**_summary(second), "started_while_open": still_open},
        "probes_after_cooldown": probes_after_cooldown,
        "probe_contenders": contenders,
        "contenders_first_answers": dict(outcomes),
        "contenders_states": dict(Counter(str(task.get("state")) for task in raced)),
        "circuit_after_probe": after.state.value,
    }


# --- ungoverned: the same model, straight to the service ---------------------------------------------
def ungoverned_run(host: LocalHost) -> dict[str, Any]:
    """The scripted model's loop with each call sent to the vendor service directly, up to the cap."""
    from functions.aws.executor import InProcessTransport, ServiceRequest

    gate = GovernanceGate.default()  # only for the agent's prompt, its toolset and the tools' routes
    model, transport = ScriptedModel(scenario=SCENARIO), InProcessTransport()
    agent = gate.agents[AGENT]
    tools = [tool.openai_schema() for tool in gate.toolset(AGENT)]
    messages: list[Message] = [
        SystemMessage(content=agent.system_prompt),
        UserMessage(content=VENDOR_REQUEST),
    ]
    host.aws.repository().set_vendor_failure_mode("404-then-503", VENDOR_ID)
    tokens = cost = steps = calls = 0
    answers: Counter[int] = Counter()
    while calls < UNGOVERNED_CAP:
        completion = model.complete(messages, tools, MAX_TOKENS, context={"scenario": SCENARIO})
        used = completion.usage
        tokens += used.input_tokens + used.output_tokens
        cost += PRICE.cost_micro_usd(used.input_tokens, used.output_tokens)
        steps += 1
        messages.append(AssistantMessage(content=completion.text, tool_calls=completion.tool_calls))
        if not completion.tool_calls:
            break
        for call in completion.tool_calls:
            calls += 1
            response = transport.send(ServiceRequest.for_tool(gate.catalog[call.name], call.arguments, {}))
            answers[response.status] += 1
            messages.append(
                ToolResultMessage(
                    tool_call_id=call.id,
                    name=call.name,
                    status="ok" if response.ok else "error",
                    content=response.body,
                )
            )
    vendor_calls = DomainState(host.aws).vendor_calls(VENDOR_ID)
    host.aws.repository().set_vendor_failure_mode("none", VENDOR_ID)
    return {
        "calls_to_failing_tool": vendor_calls,
        "vendor_answers": {str(status): count for status, count in sorted(answers.items())},
        "model_steps": steps,
        "tokens_spent": tokens,
        "cost_micro_usd_spent": cost,
        "stopped_by": f"the cap of {UNGOVERNED_CAP} calls",
    }


def _goals(governed: dict[str, Any], threshold: int) -> dict[str, Any]:
    """Each governed figure beside what it must be."""
    halted = str(governed.get("halt_reason") or "")
    checks = {
        "calls_to_failing_tool": (governed["calls_to_failing_tool"], f"== {threshold} (the threshold)"),
        "halt_reason": (halted[:80], "circuit_open on the vendor tool"),
        "calls_while_open": (governed["calls_while_open"], "== 0"),
        "probes_after_cooldown": (governed["probes_after_cooldown"], "== 1"),
    }
    met = {
        "calls_to_failing_tool": governed["calls_to_failing_tool"] == threshold,
        "halt_reason": governed.get("state") == "halted" and "circuit_open" in halted,
        "calls_while_open": governed["calls_while_open"] == 0,
        "probes_after_cooldown": governed["probes_after_cooldown"] == 1,
    }
    return {
        name: {"figure": figure, "goal": goal, "met": met[name]} for name, (figure, goal) in checks.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cooldown", type=float, default=10.0, help="the breaker's cool-down, seconds")
    parser.add_argument("--contenders", type=int, default=8, help="tasks racing for the half-open probe")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # the halts are in the JSON below
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="agentcage-runaway-") as scratch:
        budget = _budget_file(Path(scratch), args.cooldown)
        saved = {name: os.environ.get(name) for name in (BUDGET_CONFIG_ENV, LOCAL_TIMER_SECONDS_ENV)}
        os.environ[BUDGET_CONFIG_ENV] = str(budget)
        os.environ[LOCAL_TIMER_SECONDS_ENV] = "86400"  # no sweeper or expiry run in the middle
        try:
            config = LocalConfig(
                state_dir=Path(scratch) / "state", port=0, threads_per_queue=max(2, args.contenders)
            )
            with LocalHost(config) as host:
                threshold = host.ledger().breaker.failure_threshold
                governed = governed_run(host, args.cooldown, args.contenders)
                ungoverned = ungoverned_run(host)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    goals = _goals(governed, threshold)
    result = {
        "benchmark": "runaway_loop",
        "path": "local runtime (LocalHost): HTTP -> coordinator -> local queues -> tool executor Lambda "
        "-> vendor data service; SQLite ledger",
        "tool": VENDOR_TOOL,
        "vendor": "the vendor data service, 404 then 503 (moto in-process); calls counted by the vendor",
        "model": {"scripted": SCENARIO, "priced_as": "gpt-4o"},
        "breaker": {"failure_threshold": threshold, "cooldown_seconds": args.cooldown},
        **governed,
        "goals": goals,
        "ungoverned": ungoverned,
        "ratios": {
            "vendor_calls_ungoverned_over_governed": round(
                ungoverned["calls_to_failing_tool"] / max(1, governed["calls_to_failing_tool"]), 1
            ),
            "tokens_ungoverned_over_governed": round(
                ungoverned["tokens_spent"] / max(1, governed["tokens_spent"] or 0), 1
            ),
        },
        "wall_s": round(time.monotonic() - started, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))
    return 0 if all(goal["met"] for goal in goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
