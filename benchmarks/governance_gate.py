"""Steps 1-3 of the governance gate, timed in-process, against the anchor on equivalent calls.

The call: ``procurement-agent`` proposes ``negotiateVendorTerms`` (an egress tool) with ~1 KB of
arguments (a long free-text note with numbers in it, the worst case for the PII scan that still
finds nothing); the gate checks the toolset, validates the arguments against the schema, digests
them, scans them for PII and secrets, and asks Cedar, which allows it. The anchor is Microsoft's
Agent Governance Toolkit ``govern()`` wrapper (``agent-governance-toolkit[core]==4.1.0``) with a
10-rule policy and its default audit log, on the same call, in its own virtual environment under
``.bench-venvs/`` (created here on first use) and timed by ``benchmarks/support/anchor_govern_worker.py``.

The two do different work, and the output says what each side does and does not do
(``asymmetries``). The goal (issue 12) is a gate at most 0.5x the anchor's p50 in the same run; the
machine may be shared, so the gate and the anchor alternate over ``--rounds`` rounds and the ratio
quoted is the median of the rounds' ratios. ``where_the_time_goes`` says how the gate's time divides
between its steps: each step timed alone (p50), and a cProfile of the whole gate (cumulative time of
each step's entry point over the gate's; the profiler inflates Python code against Cedar's native
evaluation, so the two views bracket the truth). ``--profile`` prints the profile's top lines to stderr.

Usage: ``python benchmarks/governance_gate.py [--calls 20000] [--warmup 2000] [--rounds 3] [--no-anchor]
[--profile]``. The last line of output is one JSON object.
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
from agentcage.gate import GovernanceGate
from agentcage.inspect import scan
from agentcage.policy import CallContext

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


GOAL_RATIO_P50 = 0.5

ASYMMETRIES = {
    "agentcage_gate_does": [
        "checks the agent's toolset (from the OpenAPI catalog)",
        "validates the arguments against the operation's JSON schema",
        "digests the canonical arguments (sha256), the digest approvals are bound to",
        (
            "scans every argument string for PII and secrets (emails, phones, cards with Luhn, IBANs "
            "with mod-97, national ids, cloud keys, JWTs, private keys)"
        ),
        (
            "builds the Cedar context (environment, argument summary, inspection, target tags, budget, "
            "approval) and evaluates the Cedar policy set (default deny), returning the deciding policy ids, "
            "obligations and approver roles"
        ),
    ],
    "agentcage_gate_does_not": [
        "write an audit record (the coordinator and executor append it to the ledger afterwards)",
        "reserve budget, count loops or consult the circuit (ledger operations, after the gate)",
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


def time_anchor(gate: GovernanceGate, calls: int, warmup: int) -> dict[str, Any]:
    """Run the worker in the anchor's venv on the equivalent call."""
    tool = gate.catalog[TOOL]
    spec = {
        "calls": calls,
        "warmup": warmup,
        "agent_id": AGENT,
        "role": gate.agents[AGENT].role,
        "tool": TOOL,
        "effect": tool.effect,
        "egress": tool.egress,
        "args": ARGS,
    }
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(ensure_anchor_venv()), str(WORKER)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"anchor worker failed ({done.returncode}): {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3, help="gate and anchor alternate this many times")
    parser.add_argument("--no-anchor", action="store_true", help="skip the anchor (no venv, no install)")
    parser.add_argument("--profile", action="store_true", help="print the gate's profile to stderr")
    options = parser.parse_args()

    gate = GovernanceGate.default()
    decision = gate.evaluate(AGENT, TOOL, ARGS, environment="dev")
    if not decision.allowed:
        raise SystemExit(f"the benchmark call must be allowed, got {decision.to_dict()}")

    def gate_call() -> object:
        return gate.evaluate(AGENT, TOOL, ARGS, environment="dev")

    rounds: list[dict[str, Any]] = []
    for _ in range(max(1, options.rounds)):
        whole = time_calls(gate_call, options.calls, options.warmup)
        entry: dict[str, Any] = {
            "gate_p50_us": round(whole["p50_us"], 1),
            "gate_p99_us": round(whole["p99_us"], 1),
            "calls_per_s": round(whole["calls_per_s"]),
        }
        if not options.no_anchor:
            anchor = time_anchor(gate, options.calls, options.warmup)
            entry.update(
                {
                    "anchor_p50_us": round(anchor["p50_us"], 1),
                    "anchor_p99_us": round(anchor["p99_us"], 1),
                    "ratio_p50": round(whole["p50_us"] / anchor["p50_us"], 3),
                    "ratio_p99": round(whole["p99_us"] / anchor["p99_us"], 3),
                }
            )
        rounds.append(entry)
        print(json.dumps(entry), file=sys.stderr, flush=True)

    # Where the time goes: each step alone (fewer calls), and the whole gate under the profiler.
    tool, agent = gate.catalog[TOOL], gate.agents[AGENT]
    context = CallContext(environment="dev", args=ARGS)
    alone = {
        "validate_p50_us": time_calls(lambda: tool.problems(ARGS), 5000, 500)["p50_us"],
        "digest_p50_us": time_calls(lambda: args_digest(ARGS), 5000, 500)["p50_us"],
        "scan_p50_us": time_calls(lambda: scan(ARGS), 5000, 500)["p50_us"],
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
        "args_bytes": len(json.dumps(ARGS)),
        "decision": decision.decision,
        "calls": options.calls,
        "rounds": len(rounds),
        "gate_p50_us": median("gate_p50_us"),
        "gate_p99_us": median("gate_p99_us"),
        "calls_per_s": median("calls_per_s"),
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
        result.update(
            {
                "anchor": ANCHOR_REQUIREMENT,
                "anchor_p50_us": median("anchor_p50_us"),
                "anchor_p99_us": median("anchor_p99_us"),
                "anchor_rules": 10,
                "ratio_p50": ratio,
                "ratio_p99": median("ratio_p99"),
                "goal": {"ratio_p50": f"<= {GOAL_RATIO_P50}", "met": ratio <= GOAL_RATIO_P50},
            }
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
