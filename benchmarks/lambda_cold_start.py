"""Lambda cold start: each handler's import time in a fresh interpreter, and its deployment package size.

For every Lambda of ``functions/aws/manifest.py``:

- ``import_ms``: the median over ``--runs`` (>= 5) fresh interpreters of the time to import the handler
  module, with ``AWS_LAMBDA_FUNCTION_NAME`` set so Powertools behaves as in Lambda (the Tracer is on).
- ``first_use_ms`` (the SQS handlers): the median time, in the same fresh interpreter, of what the first
  invocation builds on top of the import (the executor: catalog, Cedar policies, ledger; the bridge:
  the web-identity token source and the Service Bus credential). No network is touched.
- ``package_mb``: the unzipped size of the handler's archive: ``functions/aws``, the ``agentcage``
  library, ``shared/{policies,catalog,agents}``, and the installed files (from each distribution's
  ``RECORD``) of the dependency closure of the archive's extras (``core``: the core dependencies and
  ``aws``; ``bridge``: also ``aws-bridge``), without boto3, botocore and s3transfer (the Lambda runtime
  provides them, with their own dependencies). Sizes are of this machine's installed wheels, a close
  stand-in for the Linux wheels infra packages.
- ``dominant_imports``: the packages whose own import code costs the most (``python -X importtime``
  self times summed per top-level package), and per archive the heaviest distributions.

Prints one JSON object, last line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.aws.manifest import LAMBDAS  # noqa: E402 - after the path is set

RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
ARCHIVE_EXTRAS = {"core": ("aws",), "bridge": ("aws", "aws-bridge")}
EXCLUDED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
GOALS = {"tool-executor": {"import_ms": 300, "package_mb": 15}}

_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "agentcage-bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AGENTCAGE_LEDGER_BACKEND": "dynamodb",
    "AGENTCAGE_LEDGER_TABLE": "bench-ledger",
    "AGENTCAGE_TOOL_RESULTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-results",
    "AGENTCAGE_API_BASE_URL": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/bench",
    "AGENTCAGE_SERVICEBUS_NAMESPACE": "bench.servicebus.windows.net",
    "AGENTCAGE_RESULTS_SERVICEBUS_QUEUE": "tool-results",
    "AGENTCAGE_AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000000",
    "AGENTCAGE_AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
}
# What the first invocation of each SQS handler builds (cached for the container's life).
_FIRST_USE = {
    "functions.aws.tool_executor": "functions.aws.tool_executor.executor()",
    "functions.aws.bridge_to_azure": "functions.aws.bridge_to_azure.result_sender()",
}
_PROBE = """
import time, json, sys
t0 = time.perf_counter()
import {module}
t1 = time.perf_counter()
{first_use}
t2 = time.perf_counter()
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "first_use_ms": (t2 - t1) * 1000}}))
"""
_IMPORTTIME = re.compile(r"^import time:\s+(?P<self>\d+) \|\s+\d+ \|\s+(?P<name>\S+)$")


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AGENTCAGE_"))}
    env.update(_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure_imports(module: str, runs: int) -> dict[str, float]:
    """Median import (and first-use) time of ``module`` over ``runs`` fresh interpreters."""
    probe = _PROBE.format(module=module, first_use=_FIRST_USE.get(module, "pass"))
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            env=_environment(),
            cwd=ROOT,
            check=True,
        )
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    figures = {"import_ms": round(statistics.median(s["import_ms"] for s in samples), 1)}
    if module in _FIRST_USE:
        figures["first_use_ms"] = round(statistics.median(s["first_use_ms"] for s in samples), 1)
    return figures


def dominant_imports(module: str, top: int = 5) -> list[dict[str, object]]:
    """The top-level packages whose own import code took the longest (``-X importtime`` self times,
    summed over each package's modules), for ``module``'s import in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=_environment(),
        cwd=ROOT,
        check=True,
    )
    costs: dict[str, int] = {}
    for line in out.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            package = match["name"].strip().split(".")[0]
            costs[package] = costs.get(package, 0) + int(match["self"])
    ranked = sorted(costs.items(), key=lambda item: item[1], reverse=True)[:top]
    return [{"package": name, "ms": round(us / 1000, 1)} for name, us in ranked]


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for file in path.rglob("*"):
        if (
            file.is_file()
            and not EXCLUDED_PARTS.intersection(file.parts)
            and file.suffix not in (".pyc", ".pyo")
        ):
            total += file.stat().st_size
    return total


def _distribution_bytes(dist: metadata.Distribution) -> int:
    total = 0
    for file in dist.files or ():
        if "__pycache__" in file.parts or file.suffix in (".pyc", ".pyo"):
            continue
        located = Path(str(dist.locate_file(file)))
        if located.is_file():
            total += located.stat().st_size
    return total


def dependency_closure(extras: tuple[str, ...]) -> dict[str, metadata.Distribution]:
    """The installed distributions ``agentcage[extras]`` needs, without the runtime-provided ones."""
    found: dict[str, metadata.Distribution] = {}
    pending: list[tuple[str, tuple[str, ...]]] = [("agentcage", extras)]
    while pending:
        name, wanted = pending.pop()
        dist = metadata.distribution(name)
        for raw in dist.requires or ():
            requirement = Requirement(raw)
            active = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in (*wanted, "")
            )
            child = canonicalize_name(requirement.name)
            if not active or child in RUNTIME_PROVIDED or child in found:
                continue
            try:
                found[child] = metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError:
                continue
            pending.append((requirement.name, tuple(requirement.extras)))
    return found


def package_size(archive: str) -> tuple[float, list[dict[str, object]]]:
    """Unzipped MB of an archive and its heaviest distributions."""
    code = sum(
        _tree_bytes(path)
        for path in (
            ROOT / "functions" / "aws",
            ROOT / "shared" / "agentcage",
            ROOT / "shared" / "policies",
            ROOT / "shared" / "catalog",
            ROOT / "shared" / "agents",
        )
        if path.exists()
    )
    sizes = {
        name: _distribution_bytes(dist) for name, dist in dependency_closure(ARCHIVE_EXTRAS[archive]).items()
    }
    heaviest = sorted(sizes.items(), key=lambda item: item[1], reverse=True)[:4]
    total = code + sum(sizes.values())
    return round(total / 1e6, 2), [{"distribution": n, "mb": round(b / 1e6, 2)} for n, b in heaviest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per handler (>= 5)")
    args = parser.parse_args()
    runs = max(5, args.runs)
    archives = {archive: package_size(archive) for archive in ARCHIVE_EXTRAS}
    handlers: dict[str, dict[str, object]] = {}
    for spec in LAMBDAS:
        module = spec.handler.rpartition(".")[0]
        figures: dict[str, object] = dict(measure_imports(module, runs))
        figures["package_mb"] = archives[spec.archive][0]
        figures["archive"] = spec.archive
        figures["dominant_imports"] = dominant_imports(module)
        goal = GOALS.get(spec.name)
        if goal is not None:
            figures["within_goal"] = {
                "import_ms": float(figures["import_ms"]) < goal["import_ms"],
                "package_mb": archives[spec.archive][0] < goal["package_mb"],
            }
        handlers[spec.name] = figures
        print(
            f"{spec.name:16s} import {figures['import_ms']:7.1f} ms  package {figures['package_mb']:6.2f} MB"
        )
    result = {
        "benchmark": "lambda_cold_start",
        "runs": runs,
        "python": sys.version.split()[0],
        "handlers": handlers,
        "archives": {name: {"package_mb": mb, "heaviest": heavy} for name, (mb, heavy) in archives.items()},
        "goal": {"tool-executor": GOALS["tool-executor"]},
    }
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
