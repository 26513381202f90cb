"""``python -m infra.smoke --stack dev``: prove a deployment (what ``make cloud-smoke`` runs).

Prints one line per step as it ends and, last, one JSON line (``ok``, stack, task and trace ids, every
step); exits 0 only when every step passed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.smoke.cloud import CloudSmoke, SmokeSettings
from infra.smoke.commands import run_command
from infra.smoke.kql import WorkspaceSearch
from infra.smoke.report import SmokeReport

DEFAULT_PACKAGE = Path("dist/deploy/function-app.zip")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.smoke", description=__doc__)
    parser.add_argument("--stack", required=True, help="the Pulumi stack (dev, prod, ...)")
    parser.add_argument("--skip-deploy", action="store_true", help="use the stack as it is (no pulumi up)")
    parser.add_argument("--package", type=Path, default=DEFAULT_PACKAGE, help="the Function App zip")
    parser.add_argument(
        "--no-seed",
        action="store_true",
        help="do not (re)load the demo customers and orders into the domain table",
    )
    parser.add_argument(
        "--flow-timeout", type=float, default=600.0, help="seconds the task may take per stage"
    )
    parser.add_argument("--ingestion-timeout", type=float, default=900.0, help="seconds to wait for logs")
    parser.add_argument("--retry-interval", type=float, default=30.0, help="seconds between query attempts")
    return parser.parse_args(argv)


def _aws_client(service: str, region: str) -> Any:
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def _seed(client: Any, table: str) -> int:
    from functions.aws.services.seed import load_seed_data

    # overwrite: an order the last run refunded becomes refundable again, as in the local tests.
    return load_seed_data(client, table, overwrite=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the smoke; 0 when every step passed, 1 otherwise."""
    from azure.identity import AzureCliCredential

    from infra.smoke.flow import ReturnExceptionFlow

    args = _arguments(argv)
    settings = SmokeSettings(
        stack=args.stack,
        package=args.package,
        skip_deploy=args.skip_deploy,
        seed=not args.no_seed,
        flow_timeout_s=args.flow_timeout,
        ingestion_timeout_s=args.ingestion_timeout,
        retry_interval_s=args.retry_interval,
    )
    smoke = CloudSmoke(
        settings=settings,
        run_command=run_command,
        aws_client=_aws_client,
        # Resource Manager and Log Analytics take .default scopes, which AzureCliCredential asks for well.
        workspace=WorkspaceSearch(AzureCliCredential()),
        seed=_seed,
        flow_factory=lambda url, token: ReturnExceptionFlow(
            url, token=token, timeout_s=settings.flow_timeout_s, interval_s=5.0
        ),
    )
    report = SmokeReport(on_step=lambda step: print(step.line(), flush=True))
    found = smoke.run(report)
    print(report.json_line(**found), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
