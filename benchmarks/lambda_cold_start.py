"""Lambda cold start, measured on the artifacts that ship: each from ``dist/host/``, in isolation.

Every figure comes from a fresh ``python -I -S`` interpreter with only the unzipped artifact on
``sys.path`` (no dev venv, no PYTHONPATH) and the settings infra gives the function, pointed at
moto_server and a loopback API stage started here:

- ``import_ms``: importing the handler's module (median over ``--runs`` >= 7 fresh interpreters);
- ``first_use_ms``: in the same interpreter, the first invocation: the tool executor handles one
  valid ``getCustomer`` request (builds its gate, Cedar policies and clients, checks and consumes the
  reservation in DynamoDB, calls the API with SigV4, sends the result to SQS); the customers data
  service answers one ``GET /customers/{id}`` from DynamoDB; the bridge builds its Service Bus sender
  (web identity token source, Entra credential, client: there is no Service Bus to send to here);
  the baseline handles one SQS record;
Each artifact is unpacked afresh from its zip (``dist/host/<name>.zip``) into a scratch folder and run
with ``-B``: as in Lambda, whose ``/var/task`` is read-only, only the bytecode the zip ships is cached;
a ``__pycache__`` an earlier test run left in ``dist/host/<name>/`` cannot flatter the figures.

- ``package_mb``: the unzipped artifact (``agentcage-artifact.json``'s ``unzipped_bytes``, else the
  tree's files);
- ``where_time_goes``: one more run under ``python -X importtime``: the self times of every module
  imported by the import and the first use (a first use imports lazily), summed per top-level
  package (the heaviest first), and their total; the rest of ``total_ms`` is the work itself (building
  the gate, I/O with moto_server and the loopback API).

The BASELINE is an SQS handler using only Powertools Logger, Metrics and BatchProcessor
(``benchmarks/support/baseline_handler.py``), run from the lambda-core artifact's path so it imports
the same Powertools, in the same run. Goals are printed beside the figures. When ``dist/host`` is
missing, ``make artifacts`` builds it. Prints one JSON object, last line.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402 - after the path is set

from agentcage.budget import BreakerSettings, BudgetLimits, Usage  # noqa: E402
from agentcage.federation import role_session_name  # noqa: E402
from agentcage.ledger.dynamodb import DynamoDBLedger  # noqa: E402
from agentcage.ledger.dynamodb_items import create_ledger_table  # noqa: E402
from agentcage.ledger.testing import dynamodb_client, moto_server  # noqa: E402
from functions.aws.services.repository import create_domain_table  # noqa: E402
from functions.aws.services.seed import load_seed_data  # noqa: E402
from tests.artifacts.entry_points.cloud_settings import (  # noqa: E402
    REGION,
    STAGE,
    aws_lambda_settings,
    budget_file,
)
from tests.artifacts.entry_points.loopback_fakes import FakeApiGateway, serving  # noqa: E402

SUPPORT = Path(__file__).resolve().parent / "support"
PROBE = SUPPORT / "cold_start_probe.py"
EVENTS = ROOT / "tests" / "events"
GOALS = {
    "lambda-core": {"package_mb": 15.0},
    "lambda-data": {"package_mb": 8.0},
    "tool_executor_vs_baseline": 2.5,  # (import_ms + first_use_ms) / the baseline's
}
_IMPORTTIME = re.compile(r"^import time:\s+(?P<self>\d+) \|\s+\d+ \|\s+(?P<name>\S.*)$")


# --- where the artifacts are -------------------------------------------------------------------------------
def artifacts_dir(requested: Path | None) -> Path:
    """``--artifacts`` or ``dist/host``; built with ``make artifacts`` when it is not there."""
    folder = requested or ROOT / "dist" / "host"
    if requested is None and not all((folder / name).is_dir() for name in ("lambda-core", "lambda-data")):
        print("dist/host is missing: running make artifacts", flush=True)
        subprocess.run(["make", "artifacts"], cwd=ROOT, check=True)
    return folder


def unpacked(folder: Path, name: str, scratch: Path) -> Path:
    """A fresh copy of artifact ``name``: its zip extracted (else its tree without bytecode caches)."""
    destination = scratch / name
    archive = folder / f"{name}.zip"
    if archive.is_file():
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(destination)
    else:
        shutil.copytree(folder / name, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def package_mb(tree: Path) -> float:
    """Unzipped size in MB: the manifest's figure, else the sum of the tree's files."""
    manifest = tree / "agentcage-artifact.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if isinstance(data.get("unzipped_bytes"), int):
            return round(data["unzipped_bytes"] / 1e6, 2)
    return round(sum(f.stat().st_size for f in tree.rglob("*") if f.is_file()) / 1e6, 2)


# --- the world the handlers talk to ----------------------------------------------------------------------
class World:
    """moto_server with the ledger, domain table and results queue; a loopback API stage."""

    def __init__(self, endpoint: str, api: FakeApiGateway, budget: Path) -> None:
        self.endpoint, self.api, self.budget = endpoint, api, budget
        self.dynamodb = dynamodb_client(endpoint)
        self.ledger_table, self.domain_table = "bench-ledger", "bench-domain"
        create_ledger_table(self.dynamodb, self.ledger_table)
        create_domain_table(self.dynamodb, self.domain_table)
        load_seed_data(self.dynamodb, self.domain_table)
        sqs = boto3.client(
            "sqs", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="moto",
            aws_secret_access_key="moto",
        )  # fmt: skip
        self.results_queue_url = sqs.create_queue(QueueName="bench-tool-results")["QueueUrl"]
        self.ledger = DynamoDBLedger(
            self.ledger_table,
            client=self.dynamodb,
            breaker=BreakerSettings(failure_threshold=3, cooldown_seconds=60, probe_timeout_seconds=30),
        )

    def settings(self, function: str, artifact: Path) -> dict[str, str]:
        """The function's cloud settings, pointed here."""
        values = {
            "ledger_table": self.ledger_table,
            "results_queue_url": self.results_queue_url,
            "api_base_url": self.api.base_url,
            "coordinator_principal_id": "0f4b1b8e-0000-4000-8000-00000000c0de",
            "domain_table": self.domain_table,
            "idempotency_table": "bench-idempotency",
            "servicebus_namespace": "bench.servicebus.windows.net",
            "tenant_id": "00000000-0000-0000-0000-000000000000",
            "client_id": "00000000-0000-0000-0000-000000000001",
        }
        return aws_lambda_settings(
            function, root=artifact, budget=self.budget, moto_endpoint=self.endpoint, values=values
        )

    def tool_request_event(self) -> dict[str, Any]:
        """One valid getCustomer request of a fresh running task, with its reservation."""
        task_id = f"task-bench-{uuid.uuid4().hex[:12]}"
        self.ledger.create_task(
            task_id=task_id,
            agent_id="returns-coordinator",
            environment=STAGE,
            request="cold start benchmark",
            limits=BudgetLimits(
                tokens=10_000, cost_micro_usd=100_000, model_steps=5, tool_calls=5,
                deadline=datetime.now(UTC) + timedelta(hours=1),
            ),
        )  # fmt: skip
        self.ledger.transition(task_id, "running")
        record = copy.deepcopy(_records("sqs_tool_requests_returns")[0])
        body = json.loads(record["body"])
        reservation = self.ledger.reserve(
            task_id,
            Usage(tool_calls=1),
            kind="tool",
            tool=body["tool"],
            args_digest=body["args_digest"],
            agent_id=body["agent_id"],
        )
        body |= {
            "task_id": task_id,
            "message_id": f"msg-{task_id}",
            "reservation_id": reservation.reservation_id,
            "issued_at": reservation.created_at.isoformat(),
            "expires_at": reservation.expires_at.isoformat(),  # a request outlives no reservation
        }
        record["body"] = json.dumps(body, separators=(",", ":"))
        record["attributes"]["SenderId"] = f"AROAEXAMPLEBRIDGEROLE:{role_session_name(task_id)}"
        return {"Records": [record]}


def _records(name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))[
        "Records"
    ]
    return records


@contextlib.contextmanager
def world() -> Iterator[World]:
    """Everything the probes need, torn down after."""
    with (
        tempfile.TemporaryDirectory(prefix="agentcage-cold-start-") as scratch,
        moto_server() as endpoint,
        serving(FakeApiGateway(STAGE)) as api,
    ):
        yield World(endpoint, api, budget_file(Path(scratch)))  # type: ignore[arg-type]


# --- measuring --------------------------------------------------------------------------------------------
def probe(
    paths: list[Path],
    module: str,
    entry: str,
    event: Any,
    environment: dict[str, str],
    *,
    importtime: bool = False,
) -> tuple[dict[str, Any], str]:
    """One fresh isolated interpreter: import ``module``, call ``entry`` once; its timings and stderr."""
    spec = {"paths": [str(p) for p in paths], "module": module, "entry": entry, "event": event}
    flags = ["-X", "importtime"] if importtime else []
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-B", *flags, str(PROBE)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=environment,
        cwd=tempfile.gettempdir(),
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith('{"import_ms"')]
    if completed.returncode != 0 or not lines:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{module}.{entry} failed in its artifact: {last}\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result, completed.stderr


def where_time_goes(importtime_log: str, top: int = 6) -> dict[str, Any]:
    """``-X importtime`` self times of everything imported by the import *and* the first use, summed
    per top-level package (lazy imports of the first use included), and their total."""
    costs: dict[str, int] = {}
    for line in importtime_log.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            package = match["name"].strip().split(".")[0]
            costs[package] = costs.get(package, 0) + int(match["self"])
    ranked = sorted(costs.items(), key=lambda item: item[1], reverse=True)[:top]
    return {
        "importing_ms": round(sum(costs.values()) / 1000, 1),
        "by_package": [{"package": name, "self_ms": round(us / 1000, 1)} for name, us in ranked],
    }


def _succeeded(answer: Any) -> bool:
    """An SQS handler failed no record; an API handler answered 2xx; a builder returned an object."""
    if isinstance(answer, dict) and "batchItemFailures" in answer:
        return not answer["batchItemFailures"]
    if isinstance(answer, dict) and "statusCode" in answer:
        return 200 <= int(answer["statusCode"]) < 300
    return answer is not None


def measure(
    name: str, paths: list[Path], module: str, entry: str, events: Any, environment: dict[str, str], runs: int
) -> dict[str, Any]:
    """Median import and first-use times over ``runs`` fresh interpreters; ``events()`` gives each's."""
    samples = [probe(paths, module, entry, events(), environment)[0] for _ in range(runs)]
    failed = [s["answer"] for s in samples if not _succeeded(s["answer"])]
    if failed:  # a first use that failed fast would flatter the figure
        raise RuntimeError(f"{name}: the first use did not succeed in its artifact: {failed[0]}")
    figures: dict[str, Any] = {
        "import_ms": round(statistics.median(s["import_ms"] for s in samples), 1),
        "first_use_ms": round(statistics.median(s["first_use_ms"] for s in samples), 1),
    }
    figures["total_ms"] = round(figures["import_ms"] + figures["first_use_ms"], 1)
    figures["first_answer"] = samples[0]["answer"]
    figures["where_time_goes"] = where_time_goes(
        probe(paths, module, entry, events(), environment, importtime=True)[1]
    )
    print(
        f"{name:16s} import {figures['import_ms']:7.1f} ms  first use {figures['first_use_ms']:7.1f} ms",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per handler (>= 7)")
    parser.add_argument(
        "--artifacts", type=Path, help="a folder of unzipped host artifacts (default dist/host)"
    )
    args = parser.parse_args()
    runs = max(7, args.runs)
    folder = artifacts_dir(args.artifacts)
    artifacts = {
        name: {"package_mb": package_mb(folder / name)}
        for name in ("lambda-core", "lambda-data", "lambda-bridge")
    }
    for name in ("lambda-core", "lambda-data"):
        goal = GOALS[name]["package_mb"]  # type: ignore[index]
        artifacts[name] |= {"goal_mb": goal, "within_goal": artifacts[name]["package_mb"] <= goal}
    with world() as here, tempfile.TemporaryDirectory(prefix="agentcage-artifacts-") as scratch:
        core, data, bridge = (
            unpacked(folder, name, Path(scratch)) for name in ("lambda-core", "lambda-data", "lambda-bridge")
        )
        executor_env = here.settings("tool-executor", core)
        customer = json.loads((EVENTS / "apigw_get_customer.json").read_text(encoding="utf-8"))
        baseline_env = {**executor_env, "POWERTOOLS_SERVICE_NAME": "baseline"}
        plan = {
            "tool-executor": ([core], "functions.aws.tool_executor", "handler", here.tool_request_event,
                              executor_env),
            "customers": ([data], "functions.aws.services.customers", "handler", lambda: customer,
                          here.settings("customers", data)),
            "bridge-to-azure": ([bridge], "functions.aws.bridge_to_azure", "result_sender", lambda: None,
                                here.settings("bridge-to-azure", bridge)),
            "baseline": ([core, SUPPORT], "baseline_handler", "handler",
                         lambda: {"Records": [_records("sqs_tool_requests_returns")[0]]}, baseline_env),
        }  # fmt: skip
        handlers: dict[str, dict[str, Any]] = {}
        for name, (paths, module, entry, events, environment) in plan.items():
            try:
                handlers[name] = measure(name, paths, module, entry, events, environment, runs)
            except (RuntimeError, subprocess.CalledProcessError) as error:  # reported, not hidden
                handlers[name] = {"error": str(error)[:1500]}
                print(f"{name:16s} FAILED in its artifact", flush=True)
    handlers["tool-executor"]["artifact"] = "lambda-core"
    handlers["customers"]["artifact"] = "lambda-data"
    handlers["bridge-to-azure"]["artifact"] = "lambda-bridge"
    handlers["baseline"]["artifact"] = "lambda-core (Powertools only)"
    executor, baseline = handlers["tool-executor"], handlers["baseline"]
    ratio = (
        round(executor["total_ms"] / baseline["total_ms"], 2)
        if "total_ms" in executor and "total_ms" in baseline
        else None
    )
    goals = {
        "tool_executor_package_mb": {"figure": artifacts["lambda-core"]["package_mb"], "goal": "<= 15"},
        "data_services_package_mb": {"figure": artifacts["lambda-data"]["package_mb"], "goal": "<= 8"},
        "bridge_package_mb": {"figure": artifacts["lambda-bridge"]["package_mb"], "goal": "reported"},
        "tool_executor_vs_baseline": {
            "figure": ratio,
            "goal": f"<= {GOALS['tool_executor_vs_baseline']}",
            "met": None if ratio is None else ratio <= GOALS["tool_executor_vs_baseline"],  # type: ignore[operator]
        },
    }
    goals["tool_executor_package_mb"]["met"] = artifacts["lambda-core"]["within_goal"]
    goals["data_services_package_mb"]["met"] = artifacts["lambda-data"]["within_goal"]
    result = {
        "benchmark": "lambda_cold_start",
        "runs": runs,
        "python": sys.version.split()[0],
        "artifacts_dir": str(folder),
        "artifacts": artifacts,
        "handlers": handlers,
        "goals": goals,
    }
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
