"""Steps 1-3 of the governance gate, timed in-process, against the anchor on equivalent calls.

The call: ``procurement-agent`` proposes ``negotiateVendorTerms`` (an egress tool) with ~1 KB of
arguments (a long free-text note with numbers in it, the worst case for the PII scan that still
finds nothing), for a task whose requester and budget the ledger recorded, as the coordinator passes
them; the gate is the one the coordinator and the executor construct (``GovernanceGate.default()``).
It checks the toolset, validates the arguments against the schema, digests them, scans them for PII
and secrets, and asks Cedar, which allows it. The anchor is Microsoft's
Agent Governance Toolkit ``govern()`` wrapper (``agent-governance-toolkit[core]==4.1.0``) with a
10-rule policy and its default audit log, on the same call, in its own virtual environment under
``.bench-venvs/`` (created here on first use), timed by ``benchmarks/support/anchor_govern_worker.py``
in blocks of ``--block`` calls that alternate with the gate's, so both sides see the same load.

The two do different work, and the output says what each side does and does not do
(``asymmetries``). The goal (issue 12) is a gate at most 0.5x the anchor's p50 in the same run; the
machine may be shared, so the gate and the anchor alternate over ``--rounds`` rounds and the ratio
quoted is the median of the rounds' ratios. Each round also times the floor Cedar sets: the
engine's own Cedar call alone (``cedarpy.is_authorized`` on this call's request, with the policy set
and the entities parsed once), so the output shows how much of the anchor's time Cedar alone takes
through cedarpy's API, and what the gate's own work costs beside it. ``where_the_time_goes`` says
how the gate's time divides between its steps: each step timed alone (p50), and a cProfile of the
whole gate (cumulative time of each step's entry point over the gate's; the profiler inflates Python
code against Cedar's native evaluation, so the two views bracket the truth). ``--profile`` prints
the profile's top lines to stderr.

Usage: ``python benchmarks/governance_gate.py [--calls 20000] [--warmup 2000] [--rounds 3] [--block 500]
[--no-anchor] [--profile]``. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from agentcage.envelopes import args_digest
from agentcage.gate import GateDecision, GovernanceGate
from agentcage.inspect import scan
from agentcage.inspect.findings import summarize
from agentcage.ledger.models import Requester
from agentcage.policy import BudgetState, CallContext
from agentcage.policy.context import cedar_context

ROOT = Path(__file__).resolve().parents[1]
ANCHOR_REQUIREMENT = "agent-governance-toolkit[core]==4.1.0"
ANCHOR_VENV = ROOT / ".bench-venvs" / "agt"
WORKER = Path(__file__).parent / "support" / "anchor_govern_worker.py"

AGENT, TOOL = "procurement-agent", "negotiateVendorTerms"
NOTE = (
    "Hello team, we would like a quote for 500 units of the SKU below, delivered to our central "
    "warehouse within 30 days of the order. Our target price reflects the volume discount agreed in "
    "the 2023 framework contract, clause 4.2, and payment terms are net 45. Please include freight "
    "to dock 7, pallet count, and the lead time for a repeat order of 1,200 units in Q3. If the "
    "price cannot be met, propose a tiered schedule (500 / 1,000 / 2,500 units) and say which "
    "components drive the cost. We also need the certificate of conformity for batch 2024-118 and "
    "confirmation that the packaging meets our spec rev. C. Reply with the quote reference so we "
    "can match it to purchase order PO-77812. For the follow-up call on Tuesday at 10:30 we will "
    "review the sample results, the 3 open quality notes and the revised drawing 88-A; please bring "
    "the updated bill of materials and any change notices issued since March. "
    "Thank you, the procurement desk."
)
ARGS: dict[str, Any] = {
    "vendor_id": "V-1042",
    "sku": "WIDGET-42",
    "quantity": 500,
    "target_price_cents": 1250,
    "note": NOTE,
}


# Whom the task runs for and what is left of its budget: the coordinator passes both from the ledger.
REQUESTER = Requester(
    kind="person", id="buyer@contoso.example", name="Procurement desk", roles=("service_rep",)
)
BUDGET = BudgetState(remaining_fraction=0.8)

GOAL_RATIO_P50 = 0.5

ASYMMETRIES = {
    "agentcage_gate_does": [
        "checks the agent's toolset (from the OpenAPI catalog)",
        "validates the arguments against the operation's JSON schema",
        "digests the arguments' RFC 8785 canonical JSON (sha256), the digest approvals are bound to",
        (
            "scans every argument string for PII and secrets (emails, phones, cards with Luhn, IBANs "
            "with mod-97, national ids, cloud keys, JWTs, private keys)"
        ),
        (
            "builds the Cedar context (environment, argument summary, inspection, target tags, budget, "
            "approval, the requester and their roles' authority) and evaluates the Cedar policy set "
            "(default deny), returning the deciding policy ids, obligations and approver roles"
        ),
    ],
    "agentcage_gate_does_not": [
        "write an audit record (the coordinator and executor append it to the ledger afterwards)",
        (
            "reserve budget, count loops or consult the circuit (the ledger operations of the "
            "coordinator's admission, after the gate)"
        ),
        "cache decisions: every call is evaluated by Cedar",
        "call the tool",
    ],
    "anchor_govern_does": [
        (
            "evaluates ten YAML rule conditions with its expression evaluator (toolset, approvals, "
            "finance threshold, destructive rules, egress with PII, exhausted budget)"
        ),
        "appends every decision to its default in-memory Merkle-chained audit log",
        "calls the wrapped function (a no-op here)",
    ],
    "anchor_govern_does_not": [
        "validate the arguments against a schema",
        "scan the arguments for PII (data.contains_pii is whatever the caller says: False here)",
        "digest the arguments",
        "evaluate Cedar (or any policy language with a schema and a validator)",
        "cap the call by the requester's authority (it has no notion of a requester)",
    ],
}


def percentiles(samples: list[int]) -> tuple[float, float]:
    """p50 and p99 of nanosecond samples, in microseconds."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def time_calls(fn: Callable[[], object], calls: int, warmup: int) -> dict[str, float]:
    """Per-call latency of ``fn`` after warm-up (GC left on, as in production)."""
    for _ in range(warmup):
        fn()
    gc.collect()
    clock = time.perf_counter_ns
    samples: list[int] = []
    started = clock()
    for _ in range(calls):
        before = clock()
        fn()
        samples.append(clock() - before)
    elapsed = clock() - started
    p50, p99 = percentiles(samples)
    return {"p50_us": p50, "p99_us": p99, "calls_per_s": calls / (elapsed / 1e9)}


def ensure_anchor_venv() -> Path:
    """The anchor's interpreter, installing the pinned toolkit into its own venv the first time."""
    python = ANCHOR_VENV / "bin" / "python"
    if python.exists():
        return python
    print(f"creating {ANCHOR_VENV} with {ANCHOR_REQUIREMENT} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(ANCHOR_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", ANCHOR_REQUIREMENT], check=True)
    return python


class AnchorWorker:
    """The anchor's worker (one process per round, so its audit log starts empty each round, as it
    did when each round ran the worker afresh), timing blocks of calls when asked."""

    def __init__(self, gate: GovernanceGate, warmup: int) -> None:
        tool = gate.catalog[TOOL]
        spec = {
            "warmup": warmup,
            "agent_id": AGENT,
            "role": gate.agents[AGENT].role,
            "tool": TOOL,
            "effect": tool.effect,
            "egress": tool.egress,
            "args": ARGS,
        }
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self._process = subprocess.Popen(
            [str(ensure_anchor_venv()), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ready: dict[str, Any] = json.loads(self._exchange(json.dumps(spec)))

    def _exchange(self, line: str) -> str:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            self._process.kill()
            _, errors = self._process.communicate()
            raise SystemExit(f"anchor worker failed ({self._process.returncode}): {errors.strip()}")
        return answer

    def block(self, calls: int) -> list[int]:
        """The latencies (ns) of ``calls`` calls of the anchor, made now."""
        samples: list[int] = json.loads(self._exchange(str(calls)))
        return samples

    def close(self) -> None:
        """End the worker (end of its input)."""
        self._process.communicate(timeout=30)


def time_block(fn: Callable[[], object], calls: int) -> list[int]:
    """The latencies (ns) of ``calls`` calls of ``fn``, made now (GC left on, as in production)."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    for _ in range(calls):
        before = clock()
        fn()
        samples.append(clock() - before)
    return samples


def time_round(sides: dict[str, Callable[[int], list[int]]], calls: int, block: int) -> dict[str, Any]:
    """``calls`` calls of each side, in alternating blocks of ``block`` calls, so that every side
    sees the same load on a shared machine; p50 and p99 (µs) of each."""
    samples: dict[str, list[int]] = {name: [] for name in sides}
    done = 0
    while done < calls:
        count = min(block, calls - done)
        for name, run in sides.items():
            samples[name].extend(run(count))
        done += count
    stats: dict[str, Any] = {}
    for name, values in samples.items():
        p50, p99 = percentiles(values)
        stats[name] = {"p50_us": p50, "p99_us": p99, "calls_per_s": len(values) / (sum(values) / 1e9)}
    return stats


def profile_gate(gate_call: Callable[[], object], calls: int, show: bool) -> dict[str, Any]:
    """Cumulative time of each step's entry point as a share of the gate's, under cProfile."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        gate_call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    if show:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(20)
        print(stream.getvalue(), file=sys.stderr)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]

    def cumulative(path_part: str, name: str, *, own: bool = False) -> float | None:
        found = [
            row[2] if own else row[3]
            for (path, _, function), row in table.items()
            if function == name and path_part in path
        ]
        return sum(found) if found else None

    whole = cumulative("gate", "evaluate")
    parts = {
        "validate_schema": cumulative("tools", "problems"),
        "digest": cumulative("envelopes", "args_digest"),
        "scan_pii": cumulative("inspect", "scan"),
        "policy_all": cumulative("policy", "decide"),
        "cedar_context": cumulative("policy", "cedar_context"),
        "cedar_is_authorized": cumulative("cedarpy", "is_authorized_batch"),
        "cedar_native_eval": cumulative(
            "~", "<built-in method cedarpy._internal.is_authorized_batch>", own=True
        ),
    }
    return {
        "calls": calls,
        "gate_cumulative_s": round(whole or 0.0, 3),
        "share_of_gate": {
            name: None if value is None or not whole else round(value / whole, 3)
            for name, value in parts.items()
        },
    }


def cedar_floor(gate: GovernanceGate) -> Callable[[], object]:
    """The engine's own Cedar call for the benchmark call, alone: the request (principal, action,
    resource and this call's context) built once, the policy set and entities parsed once, as the
    engine holds them. Private parts of the engine, read here only to time Cedar by itself."""
    engine, agent, tool = gate.policy, gate.agents[AGENT], gate.catalog[TOOL]
    call = CallContext(
        environment="dev", args=ARGS, budget=BUDGET, requester=REQUESTER, inspection=summarize(scan(ARGS))
    )
    subject = engine._subject(agent, tool)
    context = cedar_context(call, finance_threshold_cents=engine.finance_threshold_cents)
    verdict, _, errors = engine._evaluate(subject, context)
    if verdict != "Allow" or errors:
        raise SystemExit(f"the floor's request must be allowed, got {verdict} {errors}")
    return lambda: engine._evaluate(subject, context)


def report(result: dict[str, Any]) -> str:
    """The figures and the asymmetries as a person reads them (the JSON line follows)."""
    lines = [f"governance gate vs anchor: {result['call']}, {result['args_bytes']} bytes of arguments"]
    lines.append(f"  {'':34} {'p50 µs':>9} {'p99 µs':>9}")
    lines.append(
        f"  {'agentcage gate (shipped path)':34} {result['gate_p50_us']:>9} {result['gate_p99_us']:>9}"
    )
    floor = result["cedar_floor"]
    lines.append(f"  {'  of which Cedar alone (cedarpy)':34} {floor['p50_us']:>9} {floor['p99_us']:>9}")
    if "anchor_p50_us" in result:
        lines.append(
            f"  {'anchor govern() (AGT 4.1.0)':34} {result['anchor_p50_us']:>9} {result['anchor_p99_us']:>9}"
        )
        goal = result["goal"]
        lines.append(
            f"  ratio p50 {result['ratio_p50']} (p99 {result['ratio_p99']}), median of {result['rounds']} "
            f"rounds; goal {goal['ratio_p50']}: {'met' if goal['met'] else 'NOT met'}"
        )
        lines.append(
            f"  Cedar alone is {floor['ratio_to_anchor_p50']}x the anchor's p50; the gate's other work "
            f"(schema, digest, PII scan, context) {result['gate_without_cedar_ratio_p50']}x"
        )
    for side in ("agentcage_gate", "anchor_govern"):
        for verb in ("does", "does_not"):
            lines.append(f"{side.replace('_', ' ')} {verb.replace('_', ' ')}:")
            lines.extend(f"  - {item}" for item in result["asymmetries"][f"{side}_{verb}"])
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the ratio quoted is their median)")
    parser.add_argument("--block", type=int, default=500, help="calls per side before the other's turn")
    parser.add_argument("--no-anchor", action="store_true", help="skip the anchor (no venv, no install)")
    parser.add_argument("--profile", action="store_true", help="print the gate's profile to stderr")
    options = parser.parse_args()

    gate = GovernanceGate.default()

    def gate_call() -> GateDecision:
        return gate.evaluate(AGENT, TOOL, ARGS, environment="dev", budget=BUDGET, requester=REQUESTER)

    decision = gate_call()
    if not decision.allowed:
        raise SystemExit(f"the benchmark call must be allowed, got {decision.to_dict()}")
    floor_call = cedar_floor(gate)

    for _ in range(options.warmup):
        gate_call()
        floor_call()
    rounds: list[dict[str, Any]] = []
    for _ in range(max(1, options.rounds)):
        anchor = None if options.no_anchor else AnchorWorker(gate, options.warmup)
        sides: dict[str, Callable[[int], list[int]]] = {
            "gate": lambda n: time_block(gate_call, n),
            "cedar": lambda n: time_block(floor_call, n),
        }
        if anchor is not None:
            sides["anchor"] = anchor.block
        gc.collect()
        timed = time_round(sides, options.calls, options.block)
        if anchor is not None:
            anchor.close()
        whole, floor = timed["gate"], timed["cedar"]
        entry: dict[str, Any] = {
            "gate_p50_us": round(whole["p50_us"], 1),
            "gate_p99_us": round(whole["p99_us"], 1),
            "calls_per_s": round(whole["calls_per_s"]),
            "cedar_p50_us": round(floor["p50_us"], 1),
            "cedar_p99_us": round(floor["p99_us"], 1),
        }
        if anchor is not None:
            other = timed["anchor"]
            entry.update(
                {
                    "anchor_p50_us": round(other["p50_us"], 1),
                    "anchor_p99_us": round(other["p99_us"], 1),
                    "ratio_p50": round(whole["p50_us"] / other["p50_us"], 3),
                    "ratio_p99": round(whole["p99_us"] / other["p99_us"], 3),
                    "cedar_ratio_p50": round(floor["p50_us"] / other["p50_us"], 3),
                    "rest_ratio_p50": round((whole["p50_us"] - floor["p50_us"]) / other["p50_us"], 3),
                }
            )
        rounds.append(entry)
        print(json.dumps(entry), file=sys.stderr, flush=True)

    # Where the time goes: each step alone (fewer calls), and the whole gate under the profiler.
    tool, agent = gate.catalog[TOOL], gate.agents[AGENT]
    context = CallContext(environment="dev", args=ARGS, budget=BUDGET, requester=REQUESTER)
    alone = {
        "validate_p50_us": time_calls(lambda: tool.problems(ARGS), 5000, 500)["p50_us"],
        "digest_p50_us": time_calls(lambda: args_digest(ARGS), 5000, 500)["p50_us"],
        "scan_p50_us": time_calls(lambda: scan(ARGS), 5000, 500)["p50_us"],
        "context_p50_us": time_calls(
            lambda: cedar_context(context, finance_threshold_cents=gate.policy.finance_threshold_cents),
            5000,
            500,
        )["p50_us"],
        "cedar_p50_us": time_calls(floor_call, 5000, 500)["p50_us"],
        "policy_p50_us": time_calls(lambda: gate.policy.decide(agent, tool, context), 5000, 500)["p50_us"],
    }
    gate_p50 = statistics.median(r["gate_p50_us"] for r in rounds)
    where = {
        "alone": {key: round(value, 1) for key, value in alone.items()},
        "alone_share_of_gate_p50": {
            key.removesuffix("_p50_us"): round(value / gate_p50, 3) for key, value in alone.items()
        },
        "profile": profile_gate(gate_call, 3000, options.profile),
    }

    def median(field: str) -> float:
        return round(float(statistics.median(r[field] for r in rounds)), 3)

    result: dict[str, Any] = {
        "benchmark": "governance_gate",
        "call": f"{AGENT} -> {TOOL}",
        "gate": "GovernanceGate.default() (what the coordinator and the executor construct)",
        "args_bytes": len(json.dumps(ARGS)),
        "decision": decision.decision,
        "calls": options.calls,
        "rounds": len(rounds),
        "gate_p50_us": median("gate_p50_us"),
        "gate_p99_us": median("gate_p99_us"),
        "calls_per_s": median("calls_per_s"),
        "cedar_floor": {"p50_us": median("cedar_p50_us"), "p99_us": median("cedar_p99_us")},
        "where_the_time_goes": where,
        "asymmetries": ASYMMETRIES,
        "cedar_policies": len(gate.policy.policies),
        "python": platform.python_version(),
        "cedarpy": metadata.version("cedarpy"),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "per_round": rounds,
    }
    if not options.no_anchor:
        ratio = median("ratio_p50")
        result["cedar_floor"]["ratio_to_anchor_p50"] = median("cedar_ratio_p50")
        result.update(
            {
                "anchor": ANCHOR_REQUIREMENT,
                "anchor_p50_us": median("anchor_p50_us"),
                "anchor_p99_us": median("anchor_p99_us"),
                "anchor_rules": 10,
                "ratio_p50": ratio,
                "ratio_p99": median("ratio_p99"),
                "gate_without_cedar_ratio_p50": median("rest_ratio_p50"),
                "goal": {"ratio_p50": f"<= {GOAL_RATIO_P50}", "met": ratio <= GOAL_RATIO_P50},
            }
        )
    else:
        result["cedar_floor"]["ratio_to_anchor_p50"] = None
    print(report(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
