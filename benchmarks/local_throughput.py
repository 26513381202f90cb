"""The plumbing and governance cost per agent step on the local runtime, with the model's latency zero.

The scripted offline model answers at once, so what is measured is everything else: the HTTP route,
the durable SQLite queues, the coordinator's step (ledger checkpoint, budget reservation and
settlement, the governance gate with Cedar, the thought record), the bridge to AWS, the executor (the
gate again on receipt, the reservation consumed once, the in-process data service on moto's DynamoDB,
inspection), the bridge back, and recording the result.

For 1, 10 and 50 concurrent tasks (the ``hallucinate`` scenario: three model steps and two tool calls,
read-only, no approval) it reports the step time (between consecutive thought records of one task:
one full model step -> tool call -> result -> next step cycle) at p50 and p99, and completed tasks per
second. The levels are played ``--repeat`` times, interleaved (1, 10, 50, 1, 10, 50, ...), so a
machine whose load changes during the run weighs on every level alike; each figure is the median of
the repeats, and every repeat is listed under ``runs``. ``--profile`` runs the 10-task level (first
repeat) under cProfile and prints the top costs to stderr. The last line of stdout is one JSON
object; the run exits 1 (``"all_completed": false``, with the states in ``not_completed``) when any
task ended in a state other than ``completed``.

The goal (issue 12) is at least 3x today's 50-task throughput, in the same run as a checkout of
today's main; this script measures the checkout it runs from.

    .venv/bin/python benchmarks/local_throughput.py [--levels 1,10,50] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agentcage.local import LocalConfig, LocalHost
from agentcage.local.client import FINAL_STATES, AgentcageClient

REQUEST = "Fetch customer C-1001 with their history (hallucinate the parameter names)."


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def run_level(host: LocalHost, concurrency: int, rounds: int = 1) -> dict[str, Any]:
    """``rounds`` times: start ``concurrency`` tasks at once and wait for all; measure step cycle times."""
    steps: list[float] = []
    states: dict[str, int] = {}
    wall = 0.0
    for _ in range(rounds):
        round_wall = _run_round(host, concurrency, steps, states)
        wall += round_wall
    return {
        "step_p50_ms": round(_percentile(steps, 0.50), 2),
        "step_p99_ms": round(_percentile(steps, 0.99), 2),
        "step_mean_ms": round(statistics.fmean(steps), 2) if steps else 0.0,
        "tasks_per_s": round(concurrency * rounds / wall, 2),
        "steps_measured": len(steps),
        "wall_s": round(wall, 3),
        "states": states,
    }


def _run_round(host: LocalHost, concurrency: int, steps: list[float], states: dict[str, int]) -> float:
    client = AgentcageClient(host.url, timeout_s=60)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(concurrency, 16)) as pool:
        tasks = list(
            pool.map(
                lambda _: client.start_task(REQUEST, context={"scenario": "hallucinate"})["task_id"],
                range(concurrency),
            )
        )
    ledger = host.ledger()
    deadline = time.monotonic() + 120
    pending = set(tasks)
    while pending and time.monotonic() < deadline:
        pending = {task_id for task_id in pending if ledger.get_task(task_id).state.value not in FINAL_STATES}
        time.sleep(0.02)
    wall = time.perf_counter() - started
    if pending:
        raise SystemExit(f"{len(pending)} of {concurrency} tasks did not finish in 120 s")
    for task_id in tasks:
        task = ledger.get_task(task_id)
        states[task.state.value] = states.get(task.state.value, 0) + 1
        thoughts = [event.at for event in ledger.audit(task_id) if event.kind == "thought"]
        steps.extend(
            (later - earlier).total_seconds() * 1000 for earlier, later in itertools.pairwise(thoughts)
        )
    return wall


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the repeats of one level."""
    figures = ("step_p50_ms", "step_p99_ms", "step_mean_ms", "tasks_per_s")
    medians: dict[str, Any] = {
        name: round(statistics.median(run[name] for run in runs), 2) for name in figures
    }
    states: dict[str, int] = {}
    for run in runs:
        for state, count in run["states"].items():
            states[state] = states.get(state, 0) + count
    medians.update({"repeats": len(runs), "states": states})
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,10,50", help="concurrency levels (default 1,10,50)")
    parser.add_argument("--repeat", type=int, default=3, help="times each level is played (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="consumer threads per queue (default 4)")
    parser.add_argument(
        "--profile", action="store_true", help="profile the 10-task level; top costs to stderr"
    )
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.levels.split(",")]
    logging.basicConfig(level=logging.ERROR)
    runs: dict[str, list[dict[str, Any]]] = {str(level): [] for level in levels}
    seconds: dict[str, dict[str, list[float]]] = {str(level): {} for level in levels}
    with tempfile.TemporaryDirectory(prefix="agentcage-bench-") as scratch:
        config = LocalConfig(state_dir=Path(scratch), port=0, threads_per_queue=args.workers)
        with LocalHost(config) as host:
            warm_up = run_level(host, 1)  # imports, first clients, Cedar policies, moto tables
            for repeat in range(max(1, args.repeat)):
                for level in levels:
                    host.stats.reset()
                    profiler = cProfile.Profile() if args.profile and level == 10 and repeat == 0 else None
                    if profiler is not None:
                        profiler.enable()
                    # A single task gives two step samples; ten rounds make its percentiles meaningful.
                    result = run_level(host, level, rounds=10 if level == 1 else 1)
                    runs[str(level)].append(result)
                    if profiler is not None:
                        profiler.disable()
                        stream = io.StringIO()
                        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(30)
                        print(stream.getvalue(), file=sys.stderr)
                    for name, summary in host.stats.summary().items():
                        totals = seconds[str(level)].setdefault(name, [0.0, 0.0])
                        totals[0] += summary["seconds"]
                        totals[1] += summary["invocations"]
                    print(f"{level:>3} tasks: {json.dumps(result)}", file=sys.stderr, flush=True)
    results = {level: _medians(level_runs) for level, level_runs in runs.items()}
    invocations = {
        level: {name: round(1000 * total / max(1, count), 2) for name, (total, count) in names.items()}
        for level, names in seconds.items()
    }
    # A task that halted or failed did not do the work being timed: the numbers would flatter the
    # runtime, so the run fails and says which levels had such tasks.
    unfinished = {
        level: {state: count for state, count in result["states"].items() if state != "completed"}
        for level, result in {"warm-up": warm_up, **results}.items()
    }
    unfinished = {level: states for level, states in unfinished.items() if states}
    print(
        json.dumps(
            {
                "benchmark": "local_throughput",
                "model": "scripted (zero latency)",
                "scenario": "hallucinate: 3 model steps, 2 read-only tool calls, no approval",
                "workers_per_queue": args.workers,
                "all_completed": not unfinished,
                "not_completed": unfinished,
                "levels": results,
                "goal": "tasks_per_s at 50 >= 3x today's main in the same run (see the docstring)",
                "mean_invocation_ms": invocations,
                "runs": runs,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )
    if unfinished:
        print(f"tasks did not complete: {json.dumps(unfinished)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
