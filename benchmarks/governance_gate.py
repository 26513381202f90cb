"""Steps 1-3 of the governance gate, timed in-process, against the anchor on equivalent calls.

The call: ``procurement-agent`` proposes ``negotiateVendorTerms`` (an egress tool) with ~1 KB of
arguments (a long free-text note with numbers in it, the worst case for the PII scan that still
finds nothing); the gate checks the toolset, validates the arguments against the schema, digests
them, scans them for PII and secrets, and asks Cedar, which allows it. The anchor is Microsoft's
Agent Governance Toolkit ``govern()`` wrapper (``agent-governance-toolkit[core]==4.1.0``) with a
10-rule policy and its default audit log, on the same call, in its own virtual environment under
``.bench-venvs/`` (created here on first use) and timed by ``benchmarks/support/anchor_govern_worker.py``.

Usage: ``python benchmarks/governance_gate.py [--calls 20000] [--warmup 2000] [--no-anchor]``.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--no-anchor", action="store_true", help="skip the anchor (no venv, no install)")
    options = parser.parse_args()

    gate = GovernanceGate.default()
    decision = gate.evaluate(AGENT, TOOL, ARGS, environment="dev")
    if not decision.allowed:
        raise SystemExit(f"the benchmark call must be allowed, got {decision.to_dict()}")

    def gate_call() -> object:
        return gate.evaluate(AGENT, TOOL, ARGS, environment="dev")

    whole = time_calls(gate_call, options.calls, options.warmup)

    # Where the time goes (each part alone, fewer calls).
    tool, agent = gate.catalog[TOOL], gate.agents[AGENT]
    context = CallContext(environment="dev", args=ARGS)
    parts = {
        "validate_p50_us": time_calls(lambda: tool.problems(ARGS), 5000, 500)["p50_us"],
        "scan_p50_us": time_calls(lambda: scan(ARGS), 5000, 500)["p50_us"],
        "policy_p50_us": time_calls(lambda: gate.policy.decide(agent, tool, context), 5000, 500)["p50_us"],
    }

    result: dict[str, Any] = {
        "benchmark": "governance_gate",
        "call": f"{AGENT} -> {TOOL}",
        "args_bytes": len(json.dumps(ARGS)),
        "decision": decision.decision,
        "calls": options.calls,
        "gate_p50_us": round(whole["p50_us"], 1),
        "gate_p99_us": round(whole["p99_us"], 1),
        "calls_per_s": round(whole["calls_per_s"]),
        **{key: round(value, 1) for key, value in parts.items()},
        "goal": {"gate_p50_us": 150, "gate_p99_us": 400, "ratio_p50": 1.0},
        "python": platform.python_version(),
        "cedarpy": metadata.version("cedarpy"),
        "cpus": os.cpu_count(),
    }
    if not options.no_anchor:
        anchor = time_anchor(gate, options.calls, options.warmup)
        result.update(
            {
                "anchor": ANCHOR_REQUIREMENT,
                "anchor_p50_us": round(anchor["p50_us"], 1),
                "anchor_p99_us": round(anchor["p99_us"], 1),
                "anchor_calls_per_s": round(anchor["calls_per_s"]),
                "ratio_p50": round(whole["p50_us"] / anchor["p50_us"], 3),
                "ratio_p99": round(whole["p99_us"] / anchor["p99_us"], 3),
            }
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
