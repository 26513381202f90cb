"""The local host: the whole system on one machine, calling the same function entry points.

``LocalHost(config).start()`` takes the state directory (one host per directory, a file lock says so),
gives the functions their app settings, brings up DynamoDB with the seed, discovers the functions,
opens the durable queues with the windows of :mod:`agentcage.topology` times the configured time scale
(taking over the locks a killed predecessor held: its in-flight messages are delivered again when those
locks run out, as in the cloud, so a call that died mid-way comes back after the executor's lease and
is recovered), hands the functions their in-process cross-cloud senders, starts the consumers and
the timers, and serves the HTTP routes. ``stop()`` undoes it in reverse, waiting for running invocations.

A message dead-lettered on an AWS work queue moves to that queue's dead-letter queue, where the
``dead-letters`` Lambda records its outcome, as SQS and the event source mapping do in the cloud. One
dead-lettered on a Service Bus queue was already recorded by the function's last delivery (every
coordinator trigger ends the task ``failed`` then); the host only records it when that did not happen.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentcage.constants import EXECUTOR_LEASE_SECONDS_ENV, LOCAL_TIMER_SECONDS_ENV, TOOL_REQUESTS_QUEUE
from agentcage.errors import ConfigurationError
from agentcage.local.adapters import TOOL_METRICS, install_adapters, uninstall_coordinator
from agentcage.local.aws import LocalAws
from agentcage.local.broker import DurableBroker, QueueKey, StoredMessage
from agentcage.local.config import LocalConfig, app_settings
from agentcage.local.discovery import (
    LambdaFunction,
    SystemWiring,
    add_import_root,
    discover,
    find_project_root,
)
from agentcage.local.invoke import OutgoingMessage
from agentcage.local.server import LocalHttpServer
from agentcage.local.state_views import local_routes
from agentcage.local.stats import InvocationStats
from agentcage.local.workers import ConsumerPool, TimerPool
from agentcage.topology import QUEUES, QueueSpec, crash_recovery_receive

DEFAULT_TIMER_SECONDS = 30.0
"""How often the local host runs each timer function unless told otherwise."""

__all__ = ["DEFAULT_TIMER_SECONDS", "LocalHost", "running_host"]

_log = logging.getLogger("agentcage.local")


class _StateLock:
    """An exclusive lock on the state directory, released by the OS when the process dies."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "host.lock"
        self._file: Any = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.close()
            raise ConfigurationError(
                f"another agentcage host is using {self.path.parent}; stop it or pass another --state-dir"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class LocalHost:
    """Runs the coordinator and the Lambdas in this process with durable local queues."""

    def __init__(self, config: LocalConfig | None = None, *, timer_interval_s: float | None = None) -> None:
        self.config = config or LocalConfig()
        self.timer_interval_s = _timer_interval(timer_interval_s)
        self.project_root = (self.config.project_root or find_project_root()).resolve()
        add_import_root(self.project_root)
        self.stats = InvocationStats()
        self.aws = LocalAws(self.config.dynamodb_endpoint, state_path=self.config.dynamodb_state_path)
        self.broker: DurableBroker | None = None
        self.wiring: SystemWiring | None = None
        self.server: LocalHttpServer | None = None
        self._pool: ConsumerPool | None = None
        self._timers: TimerPool | None = None
        self._lock = _StateLock(self.config.state_dir)
        self._saved_env: dict[str, str | None] = {}
        self._ledger: Any = None
        self._started = threading.Event()

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> LocalHost:
        """Bring the system up and serve; raises ConfigurationError if the wiring is inconsistent."""
        self._lock.acquire()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._started.set()
        return self

    def _start(self) -> None:
        config = self.config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        # The server binds first so the settings can name its real URL (port 0 picks a free one).
        self.server = LocalHttpServer(
            (),
            deliver=self.deliver,
            health=self.health,
            host=config.host,
            port=config.port,
            # The ledger views know no principal: served only where the development principals are.
            local_routes=local_routes(self.ledger) if config.principal_source == "development" else {},
            # The development principals act for whoever reaches the port: only requests addressed to
            # the loopback names are answered (DNS rebinding), on every route and mount.
            loopback_hosts_only=config.principal_source == "development",
            extra_hosts=config.allowed_hosts,  # exact host:port values for a port forward (--allow-host)
        )
        self._apply_settings(self._settings(self.server.url))
        self.aws.start(reset_seed=config.reset_seed)
        wiring = self._discover()
        consumers = wiring.consumers()
        specs = {QueueKey(spec.cloud, spec.name): spec for spec in QUEUES}
        missing = [str(key) for key in consumers if key not in specs]
        if missing:
            raise ConfigurationError(f"no delivery settings in agentcage.topology for {', '.join(missing)}")
        _check_recovery(wiring, specs, config.time_scale)
        self.broker = DurableBroker(
            config.queues_path,
            max_deliveries={key: spec.max_deliveries for key, spec in specs.items()},
            lock_seconds={key: spec.lock_seconds * config.time_scale for key, spec in specs.items()},
            retry_delay_s=config.retry_delay_s,
            abandoning={key for key, spec in specs.items() if spec.abandons},
            on_dead_letter=self._dead_lettered,
        )
        recovered = self.broker.reclaim_abandoned_locks()
        if recovered:
            _log.warning(
                "%d messages were in flight when a previous run stopped; they are delivered again when "
                "their locks run out (at most %.3g s)",
                recovered,
                max(self.broker.lock_seconds.values()),
            )
        self.wiring = self._bind(self.broker, wiring)
        self.server.functions = self.wiring.http_functions
        consumers = self.wiring.consumers()
        self._pool = ConsumerPool(
            self.broker, consumers, threads_per_queue=config.threads_per_queue, on_invocation=self.stats.add
        )
        self._pool.start()
        self._timers = TimerPool(
            self.broker,
            self.wiring.timer_functions,
            interval_s=self.timer_interval_s,
            on_invocation=self.stats.add,
        )
        self._timers.start()
        self.server.start()
        _write_host_info(config.host_info_path, self.server.url)

    def stop(self) -> None:
        """Stop serving, let running invocations finish, close the queues and restore the environment."""
        if self._lock.held:
            self.config.host_info_path.unlink(missing_ok=True)
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._timers is not None:
            self._timers.stop()
            self._timers = None
        if self._pool is not None:
            self._pool.stop()
            self._pool = None
        if self.broker is not None:
            if self.wiring is not None:
                self._unbind()
            self.broker.close()
            self.broker = None
        self.aws.stop()
        self._restore_settings()
        self._lock.release()
        self._started.clear()

    # --- how the functions run (the artifact host runs them in worker processes instead) -------------
    def _settings(self, public_url: str) -> dict[str, str]:
        """The app settings the functions get."""
        return app_settings(self.config, public_url)

    def _discover(self) -> SystemWiring:
        """Every function of both clouds, from the project's Function App and Lambda manifest."""
        return discover(self.project_root)

    def _bind(self, broker: DurableBroker, wiring: SystemWiring) -> SystemWiring:
        """Hand the functions their in-process cross-cloud senders; mount the ASGI front doors."""
        bound = _bind_dead_letters(broker, install_adapters(broker, wiring))
        self._mount_mcp()
        return bound

    def _mount_mcp(self) -> None:
        """The MCP gateway at ``/api/mcp``, on the server's event loop, over the installed coordinator.

        Mounted rather than served through its Function (which the artifact host uses, and which runs
        the same ASGI app on a loop of its own per request): a call waiting for its tool's result then
        holds no thread of the HTTP pool.
        """
        import importlib

        from agentcage.mcp import MCP_PATH, McpGateway

        if self.server is None:
            return
        # Callers are who the installed runtime's one principal source says (the API's and the
        # console's too), built from the settings this host gave it: the development principals only
        # while it listens on loopback.
        runtime = importlib.import_module("runtime")
        self.server.mount(MCP_PATH, McpGateway(runtime.get_runtime))

    def _unbind(self) -> None:
        """Forget what :meth:`_bind` installed."""
        uninstall_coordinator()

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL the HTTP routes are served on."""
        if self.server is None:
            raise ConfigurationError("the local host is not running")
        return self.server.url

    # --- settings ---------------------------------------------------------------------------------
    def _apply_settings(self, settings: dict[str, str]) -> None:
        for name, value in settings.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_settings(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    # --- messages ---------------------------------------------------------------------------------
    def deliver(self, messages: list[OutgoingMessage]) -> None:
        """Send what an HTTP function's output bindings hold."""
        if self.broker is None:
            raise ConfigurationError("the local host is not running")
        for message in messages:
            self.broker.send(QueueKey("azure", message.queue), message.body, properties=message.properties)

    def ledger(self) -> Any:
        """The ledger the functions use (opened from the same settings)."""
        if self._ledger is None:
            from agentcage.ledger import open_ledger

            self._ledger = open_ledger()
        return self._ledger

    def run_timers(self) -> dict[str, bool]:
        """Run every timer function once now (what the interval does); whether each succeeded."""
        if self._timers is None:
            raise ConfigurationError("the local host is not running")
        return {function.name: self._timers.fire(function) for function in self._timers.functions}

    def _dead_lettered(self, message: StoredMessage) -> None:
        """Where a dead letter goes: an AWS DLQ (and its Lambda), or a recorded failure of its task."""
        spec = _spec_of(message.queue)
        if message.queue.cloud == "aws" and spec is not None and spec.dead_letter_of is not None:
            # A DLQ has no DLQ: the dead-letters Lambda failed on it every time. It stays dead here.
            _log.error(
                "%s message %s could not be handled by the dead-letters Lambda: %s",
                message.queue,
                message.message_id,
                message.dead_letter_reason,
            )
            return
        dead_letters = _dead_letter_queue_of(message.queue)
        if dead_letters is not None and self.broker is not None:
            _log.warning(
                "%s message %s dead-lettered (%s); moved to %s",
                message.queue,
                message.message_id,
                message.dead_letter_reason,
                dead_letters,
            )
            self.broker.send(
                dead_letters, message.body, properties=message.properties, message_id=message.message_id
            )
            return
        self._record_dead_letter(message)

    def _record_dead_letter(self, message: StoredMessage) -> None:
        """A dead letter with no consumer of its own: logged, and kept dead in the broker's store.

        It ends no task: a message's own claims prove nothing (anyone able to send could name any
        task). The coordinator's triggers already end a task on their last delivery when the ledger
        vouches for the message (:mod:`agentcage.coordinator.vouching`), as in the cloud, where a
        Service Bus dead letter waits for the dead-letter alert and a person.
        """
        _log.error(
            "dead-lettered %s message %s after %s deliveries: %s",
            message.queue,
            message.message_id,
            message.attempts,
            message.dead_letter_reason,
        )

    # --- status -----------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Readiness, the queues' counts and invocation statistics."""
        return {
            "status": "ok" if self._started.is_set() else "starting",
            "pid": os.getpid(),
            "state_dir": str(self.config.state_dir.resolve()),
            "queues": self.broker.counts() if self.broker is not None else {},
            "busy": self._pool.busy if self._pool is not None else 0,
            "invocations": self.stats.summary(),
            "tool_metrics": dict(TOOL_METRICS.counts),
        }

    def idle(self) -> bool:
        """True when no message waits or runs (every task is finished or waiting for a person)."""
        return (
            self.broker is not None
            and self.broker.outstanding() == 0
            and (self._pool is None or self._pool.busy == 0)
        )


def _write_host_info(path: Path, url: str) -> None:
    """Say where this host serves (the CLI finds it from the state directory); replaced atomically."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    partial.replace(path)


def _timer_interval(explicit: float | None) -> float:
    """The local timer period: the argument, then ``AGENTCAGE_LOCAL_TIMER_SECONDS``, then the default."""
    raw: float | str = explicit if explicit is not None else os.environ.get(LOCAL_TIMER_SECONDS_ENV, "")
    try:
        seconds = float(raw) if raw != "" else DEFAULT_TIMER_SECONDS
    except ValueError:
        raise ConfigurationError(
            f"{LOCAL_TIMER_SECONDS_ENV} must be a number of seconds, not {raw!r}"
        ) from None
    if not 0 < seconds <= 86_400:
        raise ConfigurationError(f"the local timer interval must be 0-86400 s, not {seconds:g}")
    return seconds


def _check_recovery(wiring: SystemWiring, specs: dict[QueueKey, QueueSpec], scale: float) -> None:
    """Refuse windows too short for a Lambda's scaled timeout, or for the executor's local lease: the
    cloud's guarantees (:func:`agentcage.topology.crash_recovery_receive`) must hold here too."""
    raw = os.environ.get(EXECUTOR_LEASE_SECONDS_ENV) or "0"
    try:
        lease = float(raw)
    except ValueError:
        raise ConfigurationError(
            f"{EXECUTOR_LEASE_SECONDS_ENV} must be a number of seconds, not {raw!r}"
        ) from None
    for function in wiring.lambdas:
        for name in function.consumed:
            spec = specs.get(QueueKey("aws", name))
            if spec is None:
                continue  # check_wiring names a queue nobody declares
            crash_recovery_receive(
                spec,
                consumer_timeout_s=function.timeout_seconds * scale,
                lease_s=lease if name == TOOL_REQUESTS_QUEUE else 0.0,
                scale=scale,
            )


def _spec_of(queue: QueueKey) -> QueueSpec | None:
    return next((s for s in QUEUES if s.cloud == queue.cloud and s.name == queue.name), None)


def _dead_letter_queue_of(queue: QueueKey) -> QueueKey | None:
    """The DLQ a queue dead-letters into (AWS work queues; Service Bus keeps its own, unconsumed)."""
    spec = next((s for s in QUEUES if s.cloud == queue.cloud and s.dead_letter_of == queue.name), None)
    return QueueKey(spec.cloud, spec.name) if spec is not None else None


def _bind_dead_letters(broker: DurableBroker, wiring: SystemWiring) -> SystemWiring:
    """The ``dead-letters`` Lambda with its results going to the local SQS (as the executor's do)."""
    import dataclasses
    import importlib

    from agentcage.local.bridges import LocalSqsClient, lambda_sender_id

    def bind(spec: LambdaFunction) -> LambdaFunction:
        if spec.trigger != "dead_letters":
            return spec
        from functions.aws.executor import SqsResultPublisher

        module = importlib.import_module(spec.module)
        client = LocalSqsClient(broker, sender_id=lambda_sender_id(spec.name))
        results = SqsResultPublisher(client=client)  # type: ignore[arg-type]

        def handler(event: dict[str, Any], context: Any) -> Any:
            return module.process_batch(event, context, results=results)

        return dataclasses.replace(spec, handler=handler)

    return dataclasses.replace(wiring, lambdas=tuple(bind(spec) for spec in wiring.lambdas))


@contextmanager
def running_host(config: LocalConfig | None = None) -> Iterator[LocalHost]:
    """A started :class:`LocalHost`, stopped on exit."""
    host = LocalHost(config)
    host.start()
    try:
        yield host
    finally:
        host.stop()
