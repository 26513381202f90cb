"""Replays the vendor-down incident: an agent keeps re-negotiating with a vendor endpoint that is down.

Both runs drive the same agent loop: the scripted model (``agentcage.models.ScriptedModel``, scenario
``runaway_vendor``, which asks the vendor again after every failure and never gives up on its own)
decides each step, and every call goes to the real vendor data service
(``functions/aws/services/vendor.py``, told to answer 404 then 503 for ever, on a moto in-process
domain table) as an API Gateway proxy event through the executor's ``InProcessTransport``. Model
tokens are what the scripted model reports for each step (its estimate of the growing conversation),
priced at gpt-4o rates so cost is comparable with a real model.

- governed: each step reserves the model call through the budget guard and settles its usage; each
  proposed call goes through the gate (``GovernanceGate.evaluate``), the breaker and a tool
  reservation (``BudgetGuard.admit_tool_call``), executes through the transport, is classified by
  ``counts_as_failure`` and settled (``finish_tool_call``), which halts the task when its failure opens
  the vendor's circuit. The ledger is SQLite.
- ungoverned: the same loop calls the service directly, with nothing to stop it but a cap of 300
  calls; it counts the tokens each step really used.

Then a second task starts while the circuit is open (answered ``circuit_open`` without calling the
vendor), and after the cool-down eight tasks take one step at the same moment: exactly one probe
reaches the vendor (still down, so the circuit opens again).

Usage: ``python benchmarks/runaway_loop.py``. The last line of output is one JSON object.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from agentcage.constants import DOMAIN_TABLE_ENV, LOG_LEVEL_ENV

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the data services and the executor live in functions/
os.environ.setdefault(LOG_LEVEL_ENV, "CRITICAL")  # read when the data services are imported

# ruff: noqa: E402 - after the path and the log level are set
from agentcage.budget import (
    AMOUNT_FIELDS,
    BreakerSettings,
    BudgetConfig,
    BudgetGuard,
    ModelPrice,
    counts_as_failure,
)
from agentcage.envelopes import args_digest
from agentcage.errors import BudgetError, CircuitOpenError
from agentcage.gate import GovernanceGate
from agentcage.ledger import Ledger, SQLiteLedger, TaskState
from agentcage.models import (
    SCRIPTED_MODEL_NAME,
    AssistantMessage,
    Completion,
    Message,
    ScriptedModel,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from agentcage.policy.context import BudgetState as PolicyBudget
from functions.aws.executor import InProcessTransport, ServiceRequest, ServiceResponse

TOOL = "negotiateVendorTerms"
AGENT = "procurement-agent"
REQUEST = "Negotiate terms with vendor V-1042 for 500 x WIDGET-9 at 12 dollars a unit."
CONTEXT = {"scenario": "runaway_vendor"}
DOMAIN_TABLE = "agentcage-bench-domain"
PRICE = ModelPrice(input_usd_per_million=Decimal("2.50"), output_usd_per_million=Decimal("10.00"))
MAX_TOKENS = 1024
UNGOVERNED_CAP = 300
BREAKER = BreakerSettings(failure_threshold=3, cooldown_seconds=60, probe_timeout_seconds=60)
CONFIG = BudgetConfig(prices={SCRIPTED_MODEL_NAME: PRICE}, breaker=BREAKER)
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


class CountingTransport:
    """The in-process transport, counting the calls that reached each service."""

    def __init__(self) -> None:
        self.inner = InProcessTransport()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def send(self, request: ServiceRequest) -> ServiceResponse:
        with self._lock:
            self.calls[request.operation] += 1
        return self.inner.send(request)


@dataclass
class World:
    gate: GovernanceGate
    transport: CountingTransport
    model: ScriptedModel
    dynamodb: Any


class Stop(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The run ends here (the ungoverned cap)."""


def _result(call: ToolCall, status: str, content: Any) -> ToolResultMessage:
    return ToolResultMessage(tool_call_id=call.id, name=call.name, status=status, content=content)


def _send(world: World, call: ToolCall) -> tuple[ToolResultMessage, ServiceResponse]:
    tool = world.gate.catalog[call.name]
    response = world.transport.send(ServiceRequest.for_tool(tool, call.arguments, {}))
    return _result(call, "ok" if response.ok else "error", response.body), response


class Ungoverned:
    """No gate, no budget, no breaker: the loop runs until the cap."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.tokens = self.cost = self.model_steps = self.tool_calls = 0
        self.answers: Counter[int] = Counter()

    def think(self, messages: list[Message], tools: list[dict[str, Any]]) -> Completion:
        completion = self.world.model.complete(messages, tools, MAX_TOKENS, context=CONTEXT)
        used = completion.usage
        self.tokens += used.input_tokens + used.output_tokens
        self.cost += PRICE.cost_micro_usd(used.input_tokens, used.output_tokens)
        self.model_steps += 1
        return completion

    def act(self, call: ToolCall) -> ToolResultMessage:
        if self.tool_calls >= UNGOVERNED_CAP:
            raise Stop
        self.tool_calls += 1
        message, response = _send(self.world, call)
        self.answers[response.status] += 1
        return message

    def halted(self) -> bool:
        return False


class Governed:
    """Every model call and every tool call through the gate, the budget guard and the breaker."""

    def __init__(self, world: World, ledger: Ledger, guard: BudgetGuard, task_id: str) -> None:
        self.world, self.ledger, self.guard, self.task_id = world, ledger, guard, task_id
        self.answers: list[str] = []

    def think(self, messages: list[Message], tools: list[dict[str, Any]]) -> Completion:
        request = {"messages": [m.model_dump(mode="json") for m in messages], "tools": tools}
        with self.guard.model_call(
            self.task_id, model=SCRIPTED_MODEL_NAME, request=request, requested_max_tokens=MAX_TOKENS
        ) as call:
            completion = self.world.model.complete(messages, tools, call.max_tokens, context=CONTEXT)
            call.settle(completion.usage.input_tokens, completion.usage.output_tokens)
        return completion

    def act(self, call: ToolCall) -> ToolResultMessage:
        decision = self.world.gate.evaluate(
            AGENT, call.name, call.arguments, environment="dev", budget=self._policy_budget()
        )
        if not decision.allowed:
            self.answers.append(decision.decision)
            return _result(
                call, "denied", {"error": {"code": decision.decision, "message": "; ".join(decision.reasons)}}
            )
        try:
            admitted = self.guard.admit_tool_call(self.task_id, call.name, args_digest(call.arguments))
        except CircuitOpenError as error:  # answered to the model; the agent may try something else
            self.answers.append("circuit_open")
            return _result(call, "circuit_open", {"error": {"code": error.code, "message": error.message}})
        message, response = _send(self.world, call)
        tool = self.world.gate.catalog[call.name]
        failed = counts_as_failure(response.status, egress=tool.egress, timed_out=False)
        self.guard.finish_tool_call(
            admitted.reservation, ok=not failed, detail=f" (last answer {response.status})"
        )
        self.answers.append(str(response.status))
        return message

    def halted(self) -> bool:
        return self.ledger.get_task(self.task_id).state is not TaskState.RUNNING

    def _policy_budget(self) -> PolicyBudget:
        """What the policy sees of the budget (as the coordinator computes it): the scarcest limit left."""
        state = self.ledger.budget_state(self.task_id)
        fractions = [
            getattr(state.remaining, name) / getattr(state.limits, name)
            for name in AMOUNT_FIELDS
            if getattr(state.limits, name) > 0
        ]
        fraction = min(fractions, default=0.0)
        return PolicyBudget(exhausted=fraction <= 0, remaining_fraction=fraction)


def run_agent(world: World, runner: Ungoverned | Governed, max_steps: int) -> None:
    """The agent loop: the model decides, each proposed call runs, its result goes back."""
    agent = world.gate.agents[AGENT]
    messages: list[Message] = [SystemMessage(content=agent.system_prompt), UserMessage(content=REQUEST)]
    tools = [tool.openai_schema() for tool in world.gate.toolset(AGENT)]
    for _ in range(max_steps):
        try:
            completion = runner.think(messages, tools)
            messages.append(AssistantMessage(content=completion.text, tool_calls=completion.tool_calls))
            if not completion.tool_calls:
                return
            messages.extend(runner.act(call) for call in completion.tool_calls)
        except (BudgetError, Stop):  # a breaker halted the task (governed) or the cap ended the run
            return
        if runner.halted():
            return


def _new_task(ledger: Ledger) -> str:
    task = ledger.create_task(
        agent_id=AGENT, environment="dev", request=REQUEST, limits=CONFIG.limits_for(BUDGET, ledger.now())
    )
    return ledger.transition(task.task_id, "running").task_id


@contextmanager
def vendor_service() -> Iterator[Any]:
    """The domain table (seeded) in moto, in-process; the vendor told to answer 404, then 503."""
    import boto3
    from moto import mock_aws

    from functions.aws.services.dependencies import reset_dependencies
    from functions.aws.services.repository import create_domain_table
    from functions.aws.services.seed import load_seed_data

    os.environ.update(
        {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    )
    os.environ[DOMAIN_TABLE_ENV] = DOMAIN_TABLE
    with mock_aws():
        reset_dependencies()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_domain_table(dynamodb, DOMAIN_TABLE)
        load_seed_data(dynamodb, DOMAIN_TABLE)
        yield dynamodb
        reset_dependencies()


def _fail_vendor(world: World) -> None:
    from functions.aws.services.vendor import set_vendor_failure_mode

    set_vendor_failure_mode(world.dynamodb, "404-then-503", table_name=DOMAIN_TABLE)  # restarts the sequence


def _probe_race(world: World, ledger: Ledger, guard: BudgetGuard, contenders: int) -> list[str]:
    runners = [Governed(world, ledger, guard, _new_task(ledger)) for _ in range(contenders)]
    barrier = threading.Barrier(contenders)

    def contender(runner: Governed) -> None:
        barrier.wait()
        run_agent(world, runner, max_steps=1)

    threads = [threading.Thread(target=contender, args=(runner,)) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(answer for runner in runners for answer in runner.answers)


def governed_run(world: World) -> dict[str, Any]:
    _fail_vendor(world)
    clock = Clock()
    with tempfile.TemporaryDirectory() as directory:
        ledger = SQLiteLedger(Path(directory) / "ledger.db", breaker=BREAKER, clock=clock)
        guard = BudgetGuard(ledger, CONFIG)

        first = Governed(world, ledger, guard, _new_task(ledger))
        run_agent(world, first, max_steps=1000)
        calls_to_failing_tool = world.transport.calls[TOOL]
        task = ledger.get_task(first.task_id)

        clock.now += timedelta(seconds=5)  # a second task starts while the circuit is open
        before = world.transport.calls[TOOL]
        second = Governed(world, ledger, guard, _new_task(ledger))
        run_agent(world, second, max_steps=4)
        calls_while_open = world.transport.calls[TOOL] - before

        clock.now += timedelta(seconds=BREAKER.cooldown_seconds)
        before = world.transport.calls[TOOL]
        race = _probe_race(world, ledger, guard, contenders=8)
        probes_after_cooldown = world.transport.calls[TOOL] - before
        circuit = ledger.circuit(TOOL)
        ledger.close()
    return {
        "calls_to_failing_tool": calls_to_failing_tool,
        "vendor_answers": first.answers,
        "model_steps": task.used.model_steps,
        "tokens_spent": task.used.tokens,
        "cost_micro_usd_spent": task.used.cost_micro_usd,
        "halt_reason": task.halt_reason,
        "calls_while_open": calls_while_open,
        "second_task_answers": second.answers,
        "probes_after_cooldown": probes_after_cooldown,
        "probe_contenders": 8,
        "probe_race_outcomes": race,
        "circuit_after_probe": circuit.state.value,
    }


def ungoverned_run(world: World) -> dict[str, Any]:
    _fail_vendor(world)
    before = world.transport.calls[TOOL]
    runner = Ungoverned(world)
    run_agent(world, runner, max_steps=UNGOVERNED_CAP + 1)
    return {
        "calls_to_failing_tool": world.transport.calls[TOOL] - before,
        "vendor_answers": {str(status): count for status, count in sorted(runner.answers.items())},
        "model_steps": runner.model_steps,
        "tokens_spent": runner.tokens,
        "cost_micro_usd": runner.cost,
        "stopped_by": f"the cap of {UNGOVERNED_CAP} calls",
    }


def main() -> None:
    logging.getLogger("agentcage").setLevel(logging.ERROR)  # the halts are in the JSON below
    with vendor_service() as dynamodb:
        world = World(
            GovernanceGate.default(), CountingTransport(), ScriptedModel(scenario="runaway_vendor"), dynamodb
        )
        governed = governed_run(world)
        ungoverned = ungoverned_run(world)
    result = {
        "benchmark": "runaway_loop",
        "backend": "sqlite",
        "tool": TOOL,
        "vendor": "the vendor data service, 404 then 503 (moto in-process, API Gateway proxy events)",
        "model": {"scripted": "runaway_vendor", "priced_as": "gpt-4o", "max_tokens": MAX_TOKENS},
        "breaker": BREAKER.model_dump(),
        **governed,
        "budget_tokens": BUDGET["tokens"],
        "budget_cost_micro_usd": BUDGET["cost_micro_usd"],
        "ungoverned": ungoverned,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
