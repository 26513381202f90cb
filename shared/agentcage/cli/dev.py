"""``agentcage dev``: serve the coordinator's HTTP routes on 127.0.0.1 with the local host behind them.

The development principals (a requester, an approver with the finance role, and a few more for tests)
answer for callers on a loopback address only: a non-loopback ``--host`` is refused (exit code 2)
unless ``--principal-source platform`` says an authenticating proxy in front writes the principal.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

from agentcage.constants import LOG_LEVEL_ENV

__all__ = ["EXAMPLE_REQUEST", "add_host_options", "config_from_args", "curl_example", "register"]

EXAMPLE_REQUEST = "Refund order O-50001 for customer C-1001, delivered 45 days ago"
"""The banner's example task (the scripted model plays the return exception for it)."""


def curl_example(url: str) -> str:
    """The banner's ``curl`` command that starts a task (a JSON body, as the API requires)."""
    body = json.dumps({"request": EXAMPLE_REQUEST})
    return f"curl -s -X POST {url}/api/tasks -H 'Content-Type: application/json' -d '{body}'"


def add_host_options(
    parser: argparse.ArgumentParser, *, default_state_dir: str | None = ".agentcage"
) -> None:
    """The options that configure a local host (shared by ``dev`` and ``demo``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--state-dir",
        default=default_state_dir,
        help="where the ledger and the queues live"
        + (f" (default {default_state_dir})" if default_state_dir else " (default: a temporary folder)"),
    )
    parser.add_argument(
        "--dynamodb-endpoint",
        help="DynamoDB for the data services, e.g. a moto_server URL (default: AWS_ENDPOINT_URL_DYNAMODB, "
        "else moto in-process)",
    )
    parser.add_argument("--workers", type=int, default=2, help="consumer threads per queue (default 2)")
    parser.add_argument(
        "--retry-delay", type=float, default=0.2, help="seconds before a failed message is delivered again"
    )
    parser.add_argument("--reset-seed", action="store_true", help="restore the seed data over any changes")
    parser.add_argument(
        "--principal-source",
        choices=("development", "platform"),
        default="development",
        help="who callers are: 'development' (default) serves the development principals -- a requester "
        "and an approver, chosen per request with X-Agentcage-Dev-Principal -- on a loopback --host only; "
        "'platform' trusts X-MS-CLIENT-PRINCIPAL from an authenticating proxy in front (any --host)",
    )


def config_from_args(args: argparse.Namespace, *, port: int, state_dir: str) -> Any:
    """The :class:`~agentcage.local.LocalConfig` the options describe."""
    from agentcage.local import LocalConfig

    return LocalConfig.resolve(
        state_dir=state_dir,
        host=args.host,
        port=port,
        dynamodb_endpoint=args.dynamodb_endpoint,
        threads_per_queue=args.workers,
        retry_delay_s=args.retry_delay,
        reset_seed=args.reset_seed,
        principal_source=getattr(args, "principal_source", "development"),
        allowed_hosts=tuple(getattr(args, "allow_host", None) or ()),
    )


def register(subparsers: Any) -> None:
    """Add the ``dev`` command."""
    parser = subparsers.add_parser("dev", help="run the whole system locally and serve its HTTP API")
    parser.add_argument("--port", type=int, default=7071, help="port (default 7071, like the Functions host)")
    add_host_options(parser)
    parser.add_argument(
        "--allow-host",
        action="append",
        metavar="HOST:PORT",
        help="also answer requests addressed to this exact host:port (repeatable), for a port forward "
        "to the loopback host: ssh -L 8080:127.0.0.1:7071 or docker -p 8080:7071 -> --allow-host "
        "localhost:8080. Loopback forwards only: never a wildcard, and only with the development "
        "principals; every other Host is refused 421 (a defence against DNS rebinding)",
    )
    parser.add_argument("--json", action="store_true", help="print where it listens as one JSON line")
    parser.add_argument(
        "--artifacts",
        action="store_true",
        help="run each cloud's functions in worker processes with only its built artifact on the path "
        "(slower; the default runs them in this process)",
    )
    parser.add_argument(
        "--artifacts-dir",
        help="the unzipped host artifacts (default: AGENTCAGE_HOST_ARTIFACTS_DIR, else dist/host; "
        "built with `make artifacts` when missing)",
    )
    parser.set_defaults(handler=_dev)


def configure_logging(default_level: str = "WARNING") -> None:
    """Runtime log lines at ``default_level`` and above on stderr (``AGENTCAGE_LOG_LEVEL`` changes it)."""
    import os

    level = os.environ.get(LOG_LEVEL_ENV, default_level).upper()
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The Lambdas' Powertools loggers write JSON to stdout, as in Lambda; locally that would mix with
    # the CLI's own output, so they follow the same level unless POWERTOOLS_LOG_LEVEL says otherwise.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", level)


def _dev(args: argparse.Namespace) -> int:
    from agentcage.local import LocalHost

    configure_logging()
    config = config_from_args(args, port=args.port, state_dir=args.state_dir)
    host: Any = _artifact_host(config, args.artifacts_dir) if args.artifacts else LocalHost(config)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    host.start()
    try:
        if args.json:
            print(
                json.dumps(
                    {
                        "url": host.url,
                        "state_dir": str(host.config.state_dir.resolve()),
                        "pid": _pid(),
                        "mode": "artifacts" if args.artifacts else "in-process",
                    }
                ),
                flush=True,
            )
        else:
            from rich.console import Console

            console = Console()
            console.print(f"[bold green]agentcage dev[/] listening on [bold]{host.url}[/] (Ctrl-C to stop)")
            console.print(f"  state:     {host.config.state_dir.resolve()}")
            console.print(
                f"  functions: {', '.join(f.name for f in host.wiring.azure) if host.wiring else '-'}"
            )
            console.print(
                f"  lambdas:   {', '.join(s.name for s in host.wiring.lambdas) if host.wiring else '-'}"
            )
            if args.artifacts:
                console.print(f"  artifacts: {', '.join(sorted(host.layouts))} from {host.artifacts_dir}")
            console.print(
                f"  try:       {curl_example(host.url)}", markup=False, highlight=False, soft_wrap=True
            )
            if getattr(args, "principal_source", "development") == "development":
                console.print(
                    "  as:        the development requester (dev-requester) creates and reads, the "
                    "development approver (dev-approver) decides; choose another per request with "
                    "-H 'X-Agentcage-Dev-Principal: <id>' (loopback only)",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
            where = "" if args.state_dir == ".agentcage" else f" --state-dir {args.state_dir}"
            console.print(
                f"  then:      agentcage tasks list{where}; agentcage approve <approval id>{where}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        stop.wait()
    finally:
        host.stop()
    return 0


def _artifact_host(config: Any, artifacts_dir: str | None) -> Any:
    """A host running the functions from the built artifacts (built first when there are none)."""
    from agentcage.local.artifact_host import ArtifactHost, artifacts_dir_from, ensure_host_artifacts
    from agentcage.local.discovery import find_project_root

    project_root = (config.project_root or find_project_root()).resolve()
    folder = artifacts_dir_from(artifacts_dir, project_root)
    ensure_host_artifacts(project_root, folder)
    return ArtifactHost(config, artifacts_dir=folder)


def _pid() -> int:
    import os

    return os.getpid()
