"""DynamoDB ledger round trips per tool call and per model step, for the coordinator and the executor.

The return-exception flow (customer and orders, the legal risk, the refund after a person approves it:
the scripted model's ``return_exception`` scenario) runs through the local runtime over the built
artifacts (:class:`agentcage.local.artifact_host.ArtifactHost`, what ``agentcage dev --artifacts`` runs):
the coordinator in the Function App's worker process, the executor in ``lambda-core``'s, each building
its own clients from its own settings, as in the cloud. The ledger is DynamoDB, served by
``moto_server`` on loopback behind a counting proxy (``benchmarks/support/dynamodb_counter.py``) that
every side reaches through its ``AWS_ENDPOINT_URL_DYNAMODB`` setting.

Each request is attributed by the access key that signed it, which is what the two sides already do
differently: the coordinator signs with the federated session it gets from STS (``ASIA…``, through
``AGENTCAGE_LEDGER_ROLE_ARN``, as the Function App does in Azure), each Lambda artifact with its own
execution role's key (``host.endpoints.lambda_senders``), and this benchmark with a key of its own
(its reads of the task's state are left out). Requests to the data services' domain tables are
counted apart from the ledger's.

The coordinator's requests are also split by the invocation they fell in (the local host's invocation
records give each consumer invocation's window; this script marks its own HTTP calls): per model step
(``run_agent_step``), per dispatch (``bridge_to_aws``), per recorded result (``record_tool_result``)
and per HTTP route. That split is by time: with one task and one consumer thread per queue it is
exact unless two windows overlap (counted as ``ambiguous``).

Cross-cloud cost: the coordinator runs in Azure and the ledger in AWS, so each of its requests is a
30-60 ms round trip there. Goals (issue 12): at most 4 coordinator and 3 executor requests per tool
call, and at most 3 coordinator requests per model step beyond its tool calls, so at most
``4 * tool_calls + 3 * model_steps`` coordinator requests in all.

    .venv/bin/python benchmarks/ledger_round_trips.py [--tasks 3] [--artifacts-dir dist/host]

The tasks run one after another; figures are the median over them. The last line of stdout is one JSON
object; the run exits 1 when a task does not complete as the flow expects.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks.support, and the seed of functions/aws/services

# ruff: noqa: E402 - after the path is set
from agentcage.constants import (
    LEDGER_BACKEND_ENV,
    LEDGER_ROLE_ARN_ENV,
    LEDGER_TABLE_ENV,
    LOCAL_TIMER_SECONDS_ENV,
)
from agentcage.ledger.dynamodb_items import create_ledger_table
from agentcage.ledger.testing import dynamodb_client, moto_server
from agentcage.local import LocalConfig
from agentcage.local.artifact_host import ArtifactHost, artifacts_dir_from, ensure_host_artifacts
from agentcage.local.client import AgentcageClient
from agentcage.local.config import DOMAIN_TABLE
from agentcage.local.demo import RETURN_REQUEST
from agentcage.local.invoke import LOCAL_ACCOUNT
from agentcage.local.stats import InvocationStats
from agentcage.local.workers import InvocationRecord
from benchmarks.support.dynamodb_counter import CountingDynamoDBProxy, DynamoDBRequest
from functions.aws.services.seed import load_seed_data

LEDGER_TABLE = "agentcage-bench-ledger"
BENCH_KEY = "AKIABENCHMARKREADER0"  # the benchmark's own reads: never counted against a side
AGENT, SCENARIO = "returns-coordinator", "return_exception"
GOALS = {
    "coordinator_per_tool_call": 4,
    "executor_per_tool_call": 3,
    "coordinator_per_model_step_beyond_tool_calls": 3,
}
REVIEW_FIGURE = "about 78 ledger calls for a 3-step, one-call task (about 25 per step), per the issue"
FLOW_TIMEOUT_S = 240.0  # an upper bound on a loaded machine, not a measurement

_log = logging.getLogger("ledger_round_trips")


# --- who did what, and when ---------------------------------------------------------------------------
class TimedStats(InvocationStats):
    """The host's invocation statistics, also keeping each invocation's window (``time.monotonic``)."""

    def __init__(self) -> None:
        super().__init__()
        self.windows: list[tuple[float, float, str]] = []

    def add(self, record: InvocationRecord) -> None:
        """Count one invocation and remember when it ran (the coordinator's: its Service Bus triggers)."""
        ended = time.monotonic()
        super().add(record)
        if record.queue is not None and record.queue.cloud == "azure":
            self.windows.append((ended - record.seconds, ended, record.function))


@dataclasses.dataclass
class Marks:
    """This script's own HTTP calls to the coordinator, as windows like the invocations'."""

    windows: list[tuple[float, float, str]] = dataclasses.field(default_factory=list)

    @contextmanager
    def window(self, label: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.windows.append((started, time.monotonic(), label))


def caller_of(request: DynamoDBRequest, lambdas: dict[str, str]) -> str:
    """``coordinator`` (a federated session), the Lambda artifact whose key signed it, or ``benchmark``."""
    key = request.access_key or ""
    if key == BENCH_KEY:
        return "benchmark"
    if key in lambdas:
        return lambdas[key].rpartition(":")[2]  # SenderId "AROA…LAMBDA:<artifact>"
    if key.startswith("ASIA"):
        return "coordinator"
    return f"unknown ({key or 'unsigned'})"


def invocation_of(request: DynamoDBRequest, windows: list[tuple[float, float, str]]) -> str:
    """The one coordinator invocation (or marked HTTP call) whose window holds the request."""
    holding = {label for started, ended, label in windows if started <= request.at <= ended}
    if len(holding) == 1:
        return holding.pop()
    return "ambiguous" if holding else "unattributed"


# --- the flow ------------------------------------------------------------------------------------------
def wait_for(host: ArtifactHost, task_id: str, states: set[str], timeout_s: float) -> Any:
    """Poll the ledger (with the benchmark's key) until the task is in one of ``states`` and all is quiet."""
    ledger = host.ledger()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task = ledger.get_task(task_id)
        if task.state.value in states and host.idle():
            return task
        if task.state.is_final and task.state.value not in states:
            return task
        time.sleep(0.1)
    raise SystemExit(f"task {task_id} did not reach {sorted(states)} within {timeout_s:.0f} s")


def play_return_exception(host: ArtifactHost, marks: Marks) -> dict[str, Any]:
    """Start the task, approve its refund as the finance approver, wait until it completes.

    The seed is restored first (with the benchmark's key: not counted), so every task refunds an order
    that has not been refunded yet and all of them take the same path.
    """
    load_seed_data(host.aws.client(), DOMAIN_TABLE, overwrite=True)
    client = AgentcageClient(host.url, timeout_s=120)
    with marks.window("POST /api/tasks"):
        task_id = client.start_task(RETURN_REQUEST, agent=AGENT, context={"scenario": SCENARIO})["task_id"]
    paused = wait_for(host, task_id, {"awaiting_approval"}, FLOW_TIMEOUT_S)
    pending = host.ledger().pending_approvals(task_id) if paused.state.value == "awaiting_approval" else []
    for approval in pending:
        with marks.window("POST /api/approvals/{id}"):
            client.decide(approval.approval_id, "approve", "Gold customer, low risk: approved.")
    done = wait_for(host, task_id, {"completed"}, FLOW_TIMEOUT_S)
    return {
        "task_id": task_id,
        "tasks": 1,
        "state": done.state.value,
        "approvals": len(pending),
        "model_steps": done.used.model_steps,
        "tool_calls": done.used.tool_calls,
        "refund_issued": "was issued" in (done.final_answer or ""),
        "final_answer": (done.final_answer or "")[:160],
    }


def summarize_task(
    flow: dict[str, Any],
    requests: list[DynamoDBRequest],
    lambdas: dict[str, str],
    windows: list[tuple[float, float, str]],
) -> dict[str, Any]:
    """One task's requests by side, by invocation, by operation and by item kind.

    ``*_by_item`` counts each ledger item a request names (``TASK/META``, ``TASK/AUDIT``, a query's
    prefix), so a transaction counts once per item and these add up to more than the requests.
    """
    ledger_requests = [r for r in requests if r.table == LEDGER_TABLE]
    other_requests = [r for r in requests if r.table != LEDGER_TABLE]
    by_caller = Counter(caller_of(r, lambdas) for r in ledger_requests)
    coordinator = [r for r in ledger_requests if caller_of(r, lambdas) == "coordinator"]
    executor = [r for r in ledger_requests if caller_of(r, lambdas) == "lambda-core"]
    calls, steps = flow["tool_calls"], flow["model_steps"]
    c, e = len(coordinator), len(executor)
    coordinator_by_invocation = Counter(invocation_of(r, windows) for r in coordinator)
    return {
        **flow,
        "ledger_requests": {k: v for k, v in sorted(by_caller.items()) if k != "benchmark"},
        "coordinator_requests": c,
        "executor_requests": e,
        "executor_per_tool_call": round(e / max(1, calls), 2),
        "coordinator_goal_total": GOALS["coordinator_per_tool_call"] * calls
        + GOALS["coordinator_per_model_step_beyond_tool_calls"] * steps,
        "executor_goal_total": GOALS["executor_per_tool_call"] * calls,
        "coordinator_by_invocation": dict(coordinator_by_invocation.most_common()),
        "coordinator_by_operation": dict(Counter(r.operation for r in coordinator).most_common()),
        "executor_by_operation": dict(Counter(r.operation for r in executor).most_common()),
        "coordinator_by_item": dict(Counter(k for r in coordinator for k in r.kinds).most_common()),
        "executor_by_item": dict(Counter(k for r in executor for k in r.kinds).most_common()),
        "failed_requests": sum(1 for r in ledger_requests if r.status >= 400),
        "domain_table_requests": dict(Counter(caller_of(r, lambdas) for r in other_requests)),
    }


def _median(runs: list[dict[str, Any]], field: str) -> float:
    return float(statistics.median(run[field] for run in runs))


def _per(runs: list[dict[str, Any]], invocation: str, divisor: str) -> float:
    """Median over the tasks of the coordinator's requests inside ``invocation`` per ``divisor``."""
    ratios = [run["coordinator_by_invocation"].get(invocation, 0) / max(1, run[divisor]) for run in runs]
    return round(float(statistics.median(ratios)), 2)


def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians over the tasks, each beside its goal.

    The goals give the coordinator 4 requests per tool call and 3 per model step, so its total is held
    against ``4 * calls + 3 * steps``. Its per-call and per-step figures below are each what is left
    when the other allowance is taken out in full (the requests cannot be split between the two
    exactly: one step invocation admits, reserves and dispatches its calls); the by-invocation
    figures show where the requests are made.
    """
    calls, steps = _median(runs, "tool_calls"), _median(runs, "model_steps")
    coordinator, executor = _median(runs, "coordinator_requests"), _median(runs, "executor_requests")
    per_call, per_step = (
        GOALS["coordinator_per_tool_call"],
        GOALS["coordinator_per_model_step_beyond_tool_calls"],
    )
    allowed = per_call * calls + per_step * steps
    beyond_calls = (coordinator - per_call * calls) / max(1, steps)
    beyond_steps = (coordinator - per_step * steps) / max(1, calls)
    return {
        "tool_calls": calls,
        "model_steps": steps,
        "coordinator_requests": {
            "figure": coordinator,
            "goal": f"<= {per_call} x {calls:g} calls + {per_step} x {steps:g} steps = {allowed:g}",
            "met": coordinator <= allowed,
        },
        "executor_requests_per_tool_call": {
            "figure": round(executor / max(1, calls), 2),
            "goal": f"<= {GOALS['executor_per_tool_call']}",
            "met": executor / max(1, calls) <= GOALS["executor_per_tool_call"],
        },
        "coordinator_requests_per_tool_call": {
            "figure": round(beyond_steps, 2),
            "goal": f"<= {per_call}",
            "met": beyond_steps <= per_call,
            "how": f"(coordinator requests - {per_step} per model step) / tool calls",
        },
        "coordinator_requests_per_model_step_beyond_tool_calls": {
            "figure": round(beyond_calls, 2),
            "goal": f"<= {per_step}",
            "met": beyond_calls <= per_step,
            "how": f"(coordinator requests - {per_call} per tool call) / model steps",
        },
        "coordinator_requests_per_model_step_all_in": {
            "figure": round(coordinator / max(1, steps), 2),
            "note": "every coordinator request over the model steps (how the review counted)",
        },
        "coordinator_by_invocation": {
            "per_model_step_in_run_agent_step": _per(runs, "run_agent_step", "model_steps"),
            "per_tool_call_in_record_tool_result": _per(runs, "record_tool_result", "tool_calls"),
            "per_tool_call_in_bridge_to_aws": _per(runs, "bridge_to_aws", "tool_calls"),
            "per_task_in_POST_api_tasks": _per(runs, "POST /api/tasks", "tasks"),
            "per_approval_in_POST_api_approvals": _per(runs, "POST /api/approvals/{id}", "approvals"),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3, help="return-exception tasks, one after another")
    parser.add_argument("--artifacts-dir", help="the unzipped host artifacts (default dist/host)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    folder = artifacts_dir_from(args.artifacts_dir, ROOT)
    ensure_host_artifacts(ROOT, folder)
    started = time.monotonic()
    with (
        moto_server() as upstream,
        CountingDynamoDBProxy(upstream) as proxy,
        tempfile.TemporaryDirectory(prefix="agentcage-ledger-trips-") as scratch,
        _settings(proxy.url),
    ):
        create_ledger_table(dynamodb_client(upstream), LEDGER_TABLE)  # straight to moto: not counted
        config = LocalConfig(
            state_dir=Path(scratch), port=0, dynamodb_endpoint=proxy.url, threads_per_queue=1
        )
        host = ArtifactHost(config, artifacts_dir=folder, timer_interval_s=86_400)
        stats = host.stats = TimedStats()
        marks = Marks()
        with host:
            if host.endpoints is None:
                raise SystemExit("the artifact host started without its loopback endpoints")
            lambdas = dict(host.endpoints.lambda_senders)
            runs = []
            for _ in range(args.tasks):
                mark = proxy.mark()
                flow = play_return_exception(host, marks)
                windows = stats.windows + marks.windows
                runs.append(summarize_task(flow, proxy.since(mark), lambdas, windows))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    failed = [
        run
        for run in runs
        if run["state"] != "completed" or run["approvals"] != 1 or not run["refund_issued"]
    ]
    result = {
        "benchmark": "ledger_round_trips",
        "flow": "return exception (scripted model), one approval, through the artifact workers",
        "ledger": "DynamoDB on moto_server (loopback), one request at a time, behind a counting proxy",
        "attribution": "by the signing key: coordinator = its federated STS session, executor = "
        "lambda-core's execution role; the benchmark's own reads are excluded",
        "tasks": len(runs),
        "figures": figures(runs),
        "goals": GOALS,
        "today_per_the_review": REVIEW_FIGURE,
        "all_completed": not failed,
        "runs": runs,
        "wall_s": round(time.monotonic() - started, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))
    return 1 if failed else 0


@contextmanager
def _settings(endpoint: str) -> Iterator[None]:
    """The ledger on DynamoDB behind the proxy, the coordinator federated, the benchmark's own key."""
    chosen = {
        LEDGER_BACKEND_ENV: "dynamodb",
        LEDGER_TABLE_ENV: LEDGER_TABLE,
        # As in Azure: the coordinator reaches the ledger as this role with its managed identity's token.
        LEDGER_ROLE_ARN_ENV: f"arn:aws:iam::{LOCAL_ACCOUNT}:role/agentcage-local-ledger",
        LOCAL_TIMER_SECONDS_ENV: "86400",  # no sweeper or expiry run during the measurement
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ACCESS_KEY_ID": BENCH_KEY,
        "AWS_SECRET_ACCESS_KEY": "bench-placeholder-not-a-credential",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in chosen}
    os.environ.update(chosen)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    sys.exit(main())
