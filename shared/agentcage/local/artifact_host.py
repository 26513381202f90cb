"""The local host over the built artifacts: each cloud's functions in their own worker processes.

:class:`ArtifactHost` is a :class:`~agentcage.local.host.LocalHost` whose queues, ledger, HTTP
server and timers stay in this process, while every function runs in a worker of its artifact
(``dist/host/<name>/``, see :mod:`agentcage.local.artifact_workers`) with only that artifact on its
path. The workers build their clients from their settings, as in the cloud, and those settings point
them at this machine:

- DynamoDB: ``AWS_ENDPOINT_URL_DYNAMODB``, a ``moto_server`` on loopback (started here unless an
  endpoint is configured), so the data services' tables are reachable from every process;
- the ledger: the same SQLite file (``AGENTCAGE_LEDGER_SQLITE_PATH``), shared across processes;
- the data services: ``AGENTCAGE_API_BASE_URL``, the loopback API Gateway of
  :class:`~agentcage.local.cloud_endpoints.LocalCloudEndpoints`, which invokes the data-service
  Lambdas in their own artifact's worker, called by the executor's real SigV4 transport;
- SQS and STS: ``AWS_ENDPOINT_URL_SQS`` / ``AWS_ENDPOINT_URL_STS`` (boto3's own settings), into the
  durable queues, with task-named role sessions;
- the managed identity: ``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER`` (the App Service protocol);
- Service Bus: the one seam injected by the worker runtime (see :mod:`agentcage.local.artifact_runtime`).

The in-process :class:`LocalHost` stays the fast default; this one proves the artifacts run.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentcage.constants import TARGET_READER_ROLE_ARN_ENV
from agentcage.errors import ConfigurationError
from agentcage.local.artifact_wiring import ApiRoutes, artifact_system, project_manifest
from agentcage.local.artifact_workers import ArtifactLayout, WorkerPool, find_artifacts
from agentcage.local.aws import LocalAws
from agentcage.local.bridges import lambda_sender_id
from agentcage.local.broker import DurableBroker
from agentcage.local.cloud_endpoints import ApiRequest, HttpAnswer, LocalCloudEndpoints
from agentcage.local.config import LocalConfig, app_settings
from agentcage.local.discovery import SystemWiring
from agentcage.local.host import LocalHost
from agentcage.local.invoke import LOCAL_ACCOUNT, LOCAL_REGION

__all__ = [
    "ARTIFACTS_DIR_ENV",
    "DEFAULT_ARTIFACTS_DIR",
    "ArtifactHost",
    "artifacts_dir_from",
    "ensure_host_artifacts",
]

_log = logging.getLogger("agentcage.local")

DEFAULT_ARTIFACTS_DIR = Path("dist/host")
ARTIFACTS_DIR_ENV = "AGENTCAGE_HOST_ARTIFACTS_DIR"  # where the artifact tests and the host find them
_PLACEHOLDER_SECRET = "local-placeholder-not-a-credential"  # noqa: S105 - nothing checks it
_AWS_IDENTITY = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def _access_key(artifact: str) -> str:
    """The placeholder access key a Lambda artifact's workers sign with (names the artifact's role)."""
    return ("AKIALOCAL" + "".join(c for c in artifact.upper() if c.isalnum()))[:20].ljust(20, "X")


def artifacts_dir_from(explicit: str | Path | None, project_root: Path) -> Path:
    """The unzipped artifacts' folder: the argument, then ``AGENTCAGE_HOST_ARTIFACTS_DIR``, then dist/host."""
    chosen = Path(explicit or os.environ.get(ARTIFACTS_DIR_ENV) or DEFAULT_ARTIFACTS_DIR)
    return (chosen if chosen.is_absolute() else project_root / chosen).resolve()


def ensure_host_artifacts(project_root: Path, artifacts_dir: Path) -> dict[str, ArtifactLayout]:
    """The artifacts under ``artifacts_dir``, built first with the project's builder when there are none.

    The builder is ``python -m infra.packaging host`` (what ``make artifacts`` runs): the same lock files
    and file sets as the deployment, for this machine. Its first run downloads the wheels from PyPI.
    """
    found = find_artifacts(artifacts_dir)
    if any(layout.is_function_app for layout in found.values()):
        return found
    _log.warning("no artifacts under %s; building them with infra.packaging (make artifacts)", artifacts_dir)
    command = [sys.executable, "-m", "infra.packaging", "host", "--out", str(artifacts_dir)]
    done = subprocess.run(command, cwd=project_root, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ConfigurationError(
            f"building the host artifacts failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}"
        )
    return find_artifacts(artifacts_dir)


class ArtifactHost(LocalHost):
    """Runs each cloud's functions in worker processes over the built artifacts."""

    def __init__(
        self,
        config: LocalConfig | None = None,
        *,
        artifacts_dir: Path | None = None,
        max_workers: int | None = None,
        timer_interval_s: float | None = None,
    ) -> None:
        super().__init__(config, timer_interval_s=timer_interval_s)
        self.artifacts_dir = artifacts_dir_from(artifacts_dir, self.project_root)
        self.layouts: dict[str, ArtifactLayout] = find_artifacts(self.artifacts_dir)
        if not any(layout.is_function_app for layout in self.layouts.values()):
            raise ConfigurationError(
                f"no Function App artifact under {self.artifacts_dir}; build them with `make artifacts`"
            )
        self.max_workers = max_workers or self.config.threads_per_queue
        self.pools: dict[str, WorkerPool] = {}
        self.endpoints: LocalCloudEndpoints | None = None
        self.api_routes: ApiRoutes | None = None
        self._moto: Any = None

    # --- the hooks of LocalHost -------------------------------------------------------------------
    def _settings(self, public_url: str) -> dict[str, str]:
        if self.config.dynamodb_endpoint is None:
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto_server's request log
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._moto.start()
            host, port = self._moto.get_host_and_port()
            self.config = dataclasses.replace(self.config, dynamodb_endpoint=f"http://{host}:{port}")
            self.aws = LocalAws(self.config.dynamodb_endpoint)
        senders = {
            _access_key(name): lambda_sender_id(name)
            for name, layout in self.layouts.items()
            if not layout.is_function_app
        }
        self.endpoints = LocalCloudEndpoints(lambda: self.broker, self._api, lambda_senders=senders)
        self.endpoints.start()
        settings = app_settings(self.config, public_url)
        settings.update(self.endpoints.settings())
        if self._moto is not None and not os.environ.get("AWS_ACCESS_KEY_ID"):
            # This host's own moto_server takes any key; the host's DynamoDB client needs one to sign.
            settings["AWS_ACCESS_KEY_ID"] = _access_key("host")
            settings["AWS_SECRET_ACCESS_KEY"] = _PLACEHOLDER_SECRET
        # With a reader role and the API named, the coordinator reads targets through the API as in the cloud.
        settings[TARGET_READER_ROLE_ARN_ENV] = (
            f"arn:aws:iam::{LOCAL_ACCOUNT}:role/agentcage-local-target-reader"
        )
        return settings

    def _discover(self) -> SystemWiring:
        manifest = project_manifest(self.project_root)
        wired = {spec.handler for spec in manifest.LAMBDAS}
        for name, layout in self.layouts.items():
            modules = sorted({h.rpartition(".")[0] for h in layout.lambda_handlers if h in wired})
            self.pools[name] = WorkerPool(
                layout,
                functools.partial(self._worker_env, layout),
                max_workers=self.max_workers,
                warm_modules=modules,
            )
        for pool in self.pools.values():
            pool.warm()  # one worker each now: the first message is not a cold start under a test's clock
        function_app = next(p for p in self.pools.values() if p.layout.is_function_app)
        lambda_pools = {name: p for name, p in self.pools.items() if not p.layout.is_function_app}
        wiring = artifact_system(function_app, manifest, lambda_pools)
        from agentcage.tools import Catalog

        self.api_routes = ApiRoutes(Catalog.from_directory(), wiring.lambdas)
        return wiring

    def _bind(self, broker: DurableBroker, wiring: SystemWiring) -> SystemWiring:  # noqa: ARG002 - the hook's shape
        return wiring  # the workers build their own clients from the settings

    def _unbind(self) -> None:
        return None

    def stop(self) -> None:
        """Stop the host, then the workers, the endpoints and moto_server."""
        try:
            super().stop()
        finally:
            for pool in self.pools.values():
                pool.stop()
            self.pools.clear()
            if self.endpoints is not None:
                self.endpoints.stop()
                self.endpoints = None
            if self._moto is not None:
                self._moto.stop()
                self._moto = None

    def health(self) -> dict[str, Any]:
        """The in-process health, with the artifacts and how many workers each started."""
        document = super().health()
        document["artifacts"] = {
            name: {
                "root": str(layout.root),
                "workers_started": self.pools[name].started if name in self.pools else 0,
            }
            for name, layout in self.layouts.items()
        }
        return document

    # --- the workers ------------------------------------------------------------------------------
    def _worker_env(self, layout: ArtifactLayout) -> dict[str, str]:
        """This process's environment (app settings applied) with the identity of the artifact's cloud."""
        env = {k: v for k, v in os.environ.items() if k not in _AWS_IDENTITY}
        if layout.is_function_app:
            env["FUNCTIONS_WORKER_RUNTIME"] = "python"  # no AWS identity: the coordinator federates
        else:
            env["AWS_ACCESS_KEY_ID"] = _access_key(layout.name)  # Lambda's execution-role variables
            env["AWS_SECRET_ACCESS_KEY"] = _PLACEHOLDER_SECRET
            env["AWS_REGION"] = env.get("AWS_REGION") or LOCAL_REGION
        return env

    def _api(self, request: ApiRequest) -> HttpAnswer:
        if self.api_routes is None:
            return 503, {"Content-Type": "application/json"}, b'{"message":"the local API is starting"}'
        return self.api_routes(request)
