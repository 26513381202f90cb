"""The local runtime's configuration and the app settings it gives the functions.

Precedence, as everywhere: an explicit argument, then the environment variable (names in
:mod:`agentcage.constants` plus boto3's own ``AWS_ENDPOINT_URL_DYNAMODB``), then the embedded default:
state under ``.agentcage/``, the SQLite ledger, DynamoDB tables in moto in-process with the seed data
(kept in the state directory too), the scripted offline model, and the development principals (a
requester, an approver with the finance role, and a few more for tests: :mod:`agentcage.approvals.principal`).

**Who is calling, locally.** With the default principal source, ``development``, the development
principals answer every request that carries no other identity, so the host serves them on a loopback
address only: :class:`LocalConfig` refuses any other ``host`` (a :class:`ConfigurationError`, exit code
2 from the CLI) unless the principal source is ``platform`` -- an authenticating proxy in front of the
host that writes ``X-MS-CLIENT-PRINCIPAL`` the way App Service Authentication does (the host then sets
``WEBSITE_AUTH_ENABLED=True`` for the functions, and offers no development principal).

The functions read their configuration from the environment, as on Azure Functions (app settings)
and Lambda (environment variables); :func:`app_settings` is what the local host sets for them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentcage.approvals.principal import DEFAULT_DEV_APPROVER, DEFAULT_DEV_REQUESTER, is_loopback
from agentcage.constants import (
    BRIDGE_ROLE_ARN_ENV,
    BRIDGE_ROLE_ID_ENV,
    DEV_APPROVER_ENV,
    DEV_REQUESTER_ENV,
    DOMAIN_TABLE_ENV,
    ENVIRONMENT_ENV,
    EXECUTOR_LEASE_SECONDS_ENV,
    FEDERATION_AUDIENCE_ENV,
    IDEMPOTENCY_TABLE_ENV,
    LEDGER_BACKEND_ENV,
    LEDGER_SQLITE_PATH_ENV,
    LOCAL_LISTEN_HOST_ENV,
    PUBLIC_BASE_URL_ENV,
    RESULTS_SERVICEBUS_QUEUE_ENV,
    SERVICEBUS_NAMESPACE_ENV,
    TOOL_REQUESTS_QUEUE,
    TOOL_REQUESTS_QUEUE_URL_ENV,
    TOOL_RESULTS_QUEUE,
    TOOL_RESULTS_QUEUE_URL_ENV,
    WEBSITE_AUTH_ENABLED_ENV,
)
from agentcage.errors import ConfigurationError
from agentcage.local.asgi import allowed_host
from agentcage.local.client import HOST_INFO_FILE
from agentcage.local.invoke import LOCAL_ACCOUNT, LOCAL_BRIDGE_ROLE_ID, LOCAL_REGION

__all__ = [
    "DEFAULT_DEV_APPROVER",
    "DEFAULT_DEV_REQUESTER",
    "DEFAULT_PORT",
    "DEFAULT_STATE_DIR",
    "DEFAULT_TIME_SCALE",
    "DYNAMODB_ENDPOINT_ENV",
    "EXECUTOR_LEASE_FLOOR_S",
    "LocalConfig",
    "PRINCIPAL_SOURCES",
    "PrincipalSourceName",
    "app_settings",
    "local_queue_url",
]

DEFAULT_STATE_DIR = Path(".agentcage")
DEFAULT_PORT = 7071
PrincipalSourceName = Literal["development", "platform"]
PRINCIPAL_SOURCES: tuple[PrincipalSourceName, ...] = ("development", "platform")
DYNAMODB_ENDPOINT_ENV = "AWS_ENDPOINT_URL_DYNAMODB"  # boto3's own variable; moto_server, for example
DOMAIN_TABLE = "agentcage-local-domain"
IDEMPOTENCY_TABLE = "agentcage-local-idempotency"
EXECUTOR_LEASE_FLOOR_S = 3.0
"""The least executor lease locally: a request is recovered only after its attempt can have ended.

The local broker does not deduplicate, so a repeated approve POST sends the same ToolRequest twice;
a lease of the retry delay alone (0 with ``--retry-delay 0``) would recover the second copy while the
first is still inside its call. A few seconds outlast any local call (the services run in-process).
"""


DEFAULT_TIME_SCALE = 1 / 15
"""Local seconds per cloud second for the queues' lock and visibility windows (:mod:`agentcage.topology`).

At this scale the executor's cloud lease (its 30 s timeout plus a 15 s margin) is the local lease
floor of 3 s, so the ratios the cloud settings guarantee (a request whose executor died comes back
after the lease, before it is dead-lettered) hold locally, and a crashed call is recovered in about
12 s (the SQS visibility timeout of 180 s, scaled) instead of three minutes.
"""


def local_queue_url(name: str) -> str:
    """The SQS URL the functions are given for a local queue (the broker maps it back to ``name``)."""
    return f"https://sqs.{LOCAL_REGION}.amazonaws.com/{LOCAL_ACCOUNT}/{name}"


@dataclass(frozen=True, slots=True)
class LocalConfig:
    """How to run the local host."""

    state_dir: Path = DEFAULT_STATE_DIR
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    project_root: Path | None = None
    dynamodb_endpoint: str | None = None
    dev_approver: str = DEFAULT_DEV_APPROVER
    dev_requester: str = DEFAULT_DEV_REQUESTER
    principal_source: PrincipalSourceName = "development"
    """``development``: the development principals, on loopback only; ``platform``: trust the
    ``X-MS-CLIENT-PRINCIPAL`` an authenticating proxy in front writes (the module docstring)."""
    threads_per_queue: int = 2
    retry_delay_s: float = 0.2
    reset_seed: bool = False
    time_scale: float = DEFAULT_TIME_SCALE
    """The queues' windows are topology's times this (the host refuses a scale that breaks recovery)."""
    allowed_hosts: tuple[str, ...] = ()
    """Exact ``name:port`` ``Host`` values answered besides the loopback names with the served port:
    for a port forward to the loopback host (``ssh -L``, ``docker -p``, a devcontainer), whose
    browser names the forward's port. Never a wildcard (:func:`~agentcage.local.asgi.allowed_host`)."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port must be 0-65535, not {self.port}")
        if self.threads_per_queue < 1:
            raise ConfigurationError("threads_per_queue must be at least 1")
        if self.retry_delay_s < 0:
            raise ConfigurationError("retry_delay_s must not be negative")
        if not 0 < self.time_scale <= 1:
            raise ConfigurationError(f"time_scale must be in (0, 1], not {self.time_scale:g}")
        if self.principal_source not in PRINCIPAL_SOURCES:
            raise ConfigurationError(
                f"the principal source is one of {', '.join(PRINCIPAL_SOURCES)}, "
                f"not {self.principal_source!r}"
            )
        if self.principal_source == "development" and not is_loopback(self.host):
            raise ConfigurationError(
                f"refusing to serve the development principals (a requester, and an approver with the "
                f"finance role) on {self.host!r}, which is not a loopback address: listen on 127.0.0.1, "
                "or put an authenticating proxy that writes X-MS-CLIENT-PRINCIPAL in front and pass "
                "--principal-source platform",
                details={"host": self.host, "principal_source": self.principal_source},
            )
        for value in self.allowed_hosts:
            allowed_host(value)  # a ConfigurationError for a wildcard, a bare name or a bad port
        if self.allowed_hosts and self.principal_source != "development":
            # Only the development principals' server checks the Host (behind a proxy, the proxy does):
            # an option that would do nothing is refused rather than ignored.
            raise ConfigurationError(
                "--allow-host is for a port forward to the development principals on loopback; with "
                "--principal-source platform the authenticating proxy in front decides which hosts it serves",
                details={"allowed_hosts": list(self.allowed_hosts)},
            )

    @classmethod
    def resolve(
        cls,
        *,
        state_dir: str | Path | None = None,
        host: str | None = None,
        port: int | None = None,
        dynamodb_endpoint: str | None = None,
        dev_approver: str | None = None,
        dev_requester: str | None = None,
        principal_source: PrincipalSourceName = "development",
        threads_per_queue: int = 2,
        retry_delay_s: float = 0.2,
        reset_seed: bool = False,
        time_scale: float = DEFAULT_TIME_SCALE,
        allowed_hosts: tuple[str, ...] = (),
        environ: Mapping[str, str] | None = None,
    ) -> LocalConfig:
        """Explicit arguments, then the environment, then the defaults."""
        env = os.environ if environ is None else environ
        return cls(
            state_dir=Path(state_dir) if state_dir else DEFAULT_STATE_DIR,
            host=host or "127.0.0.1",
            port=DEFAULT_PORT if port is None else port,
            dynamodb_endpoint=dynamodb_endpoint or env.get(DYNAMODB_ENDPOINT_ENV) or None,
            dev_approver=dev_approver or env.get(DEV_APPROVER_ENV) or DEFAULT_DEV_APPROVER,
            dev_requester=dev_requester or env.get(DEV_REQUESTER_ENV) or DEFAULT_DEV_REQUESTER,
            principal_source=principal_source,
            threads_per_queue=threads_per_queue,
            retry_delay_s=retry_delay_s,
            reset_seed=reset_seed,
            time_scale=time_scale,
            allowed_hosts=tuple(allowed_hosts),
        )

    @property
    def ledger_path(self) -> Path:
        """The SQLite ledger file (when the ledger is SQLite)."""
        return self.state_dir / "ledger.db"

    @property
    def queues_path(self) -> Path:
        """The SQLite file holding the queues of both clouds."""
        return self.state_dir / "queues.db"

    @property
    def dynamodb_state_path(self) -> Path:
        """The SQLite file keeping the in-process DynamoDB's tables (unused with an endpoint)."""
        return self.state_dir / "dynamodb.db"

    @property
    def host_info_path(self) -> Path:
        """Where a running host records its URL and pid (for the CLI; gone when it stops)."""
        return self.state_dir / HOST_INFO_FILE


def app_settings(
    config: LocalConfig, public_url: str, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment the functions run with locally.

    Settings a user may choose (ledger backend, environment name, the approver) keep a value already in
    the environment; the wiring (queue URLs, table names, the results queue) is the local host's.
    """
    env = os.environ if environ is None else environ
    backend = (env.get(LEDGER_BACKEND_ENV) or "sqlite").strip().lower()
    settings = {
        ENVIRONMENT_ENV: env.get(ENVIRONMENT_ENV) or "local",
        LEDGER_BACKEND_ENV: backend,
        DOMAIN_TABLE_ENV: DOMAIN_TABLE,
        IDEMPOTENCY_TABLE_ENV: IDEMPOTENCY_TABLE,
        DEV_APPROVER_ENV: config.dev_approver,
        DEV_REQUESTER_ENV: config.dev_requester,
        # Where the host listens: the development principals are offered only on a loopback address.
        LOCAL_LISTEN_HOST_ENV: config.host,
        # A copy of a request may come at once (a repeated approve re-sends it): the floor keeps a copy
        # arriving while the first runs queued, as in AWS. (The host checks that the scaled visibility
        # timeout still brings a crashed call back after this lease: agentcage.topology.)
        EXECUTOR_LEASE_SECONDS_ENV: env.get(EXECUTOR_LEASE_SECONDS_ENV)
        or f"{max(config.retry_delay_s, EXECUTOR_LEASE_FLOOR_S):g}",
        PUBLIC_BASE_URL_ENV: public_url,
        TOOL_REQUESTS_QUEUE_URL_ENV: local_queue_url(TOOL_REQUESTS_QUEUE),
        TOOL_RESULTS_QUEUE_URL_ENV: local_queue_url(TOOL_RESULTS_QUEUE),
        RESULTS_SERVICEBUS_QUEUE_ENV: TOOL_RESULTS_QUEUE,
        # Names only: nothing connects to them, the local host hands the messages over in-process.
        SERVICEBUS_NAMESPACE_ENV: "local.servicebus.invalid",
        BRIDGE_ROLE_ARN_ENV: f"arn:aws:iam::{LOCAL_ACCOUNT}:role/agentcage-local-bridge",
        # The executor and the dead-letters Lambda answer only sessions of this role, as in the cloud.
        BRIDGE_ROLE_ID_ENV: LOCAL_BRIDGE_ROLE_ID,
        FEDERATION_AUDIENCE_ENV: "api://agentcage-local",
        "SERVICEBUS__fullyQualifiedNamespace": "local.servicebus.invalid",
        "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION") or LOCAL_REGION,
        "POWERTOOLS_METRICS_NAMESPACE": env.get("POWERTOOLS_METRICS_NAMESPACE") or "agentcage-local",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon on this machine
        # EMF documents are for CloudWatch; locally they would only flood the terminal.
        "POWERTOOLS_METRICS_DISABLED": env.get("POWERTOOLS_METRICS_DISABLED") or "true",
        "POWERTOOLS_LOG_LEVEL": env.get("POWERTOOLS_LOG_LEVEL") or "WARNING",
    }
    if backend == "sqlite":
        settings[LEDGER_SQLITE_PATH_ENV] = str(config.ledger_path.resolve())
    if config.dynamodb_endpoint:
        settings[DYNAMODB_ENDPOINT_ENV] = config.dynamodb_endpoint
    if config.principal_source == "platform":  # an authenticating proxy writes the principal header
        settings[WEBSITE_AUTH_ENABLED_ENV] = "True"
    return settings
