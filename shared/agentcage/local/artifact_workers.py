"""Artifact workers: each cloud's functions in their own processes, with only that artifact on the path.

An :class:`ArtifactLayout` is an unzipped artifact (``dist/host/<name>/`` with its
``agentcage-artifact.json``). An :class:`ArtifactWorker` is one ``python -I -S`` child running
:mod:`agentcage.local.artifact_runtime` over that artifact (no site-packages, no dev venv, no
``PYTHONPATH``): the host sends it framed JSON requests and reads framed replies. A
:class:`WorkerPool` keeps up to ``max_workers`` of them per artifact and hands each request to an
idle one, starting another when all are busy, as Lambda starts another execution environment; like
Lambda, a worker runs one invocation at a time. A worker that dies or overruns its time is killed
and replaced by the next request; the invocation it held fails, and the broker delivers it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentcage.errors import ConfigurationError, TransportError
from agentcage.local import artifact_runtime
from agentcage.local.artifact_runtime import FrameError, read_frame, write_frame

__all__ = [
    "ARTIFACT_MANIFEST",
    "FUNCTION_APP_PACKAGES",
    "ArtifactLayout",
    "ArtifactWorker",
    "WorkerPool",
    "find_artifacts",
]

_log = logging.getLogger("agentcage.local.workers")

ARTIFACT_MANIFEST = "agentcage-artifact.json"
FUNCTION_APP_PACKAGES = ".python_packages/lib/site-packages"  # the Functions worker adds it to sys.path
START_TIMEOUT_S = 300.0  # a cold interpreter importing an artifact on a loaded machine: generous on purpose


@dataclass(frozen=True, slots=True)
class ArtifactLayout:
    """An unzipped artifact: its name, root, entry points and what goes on a worker's ``sys.path``."""

    name: str
    root: Path
    entry_points: tuple[str, ...]
    paths: tuple[Path, ...]

    @classmethod
    def from_tree(cls, root: Path) -> ArtifactLayout:
        """Read ``root/agentcage-artifact.json``: its ``sys_path`` (relative to the root), else the root and
        the Function App's packages folder, as the Functions worker adds it."""
        manifest_path = root / ARTIFACT_MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"{manifest_path} cannot be read: {error}") from error
        if not isinstance(manifest, dict) or not isinstance(manifest.get("name"), str):
            raise ConfigurationError(f"{manifest_path} has no artifact name")
        declared = manifest.get("sys_path")
        if isinstance(declared, list) and declared:
            # The artifact says what its platform puts on sys.path, relative to its root ("" = the root).
            paths = tuple((root / str(entry)).resolve() if entry else root.resolve() for entry in declared)
        else:
            packages = root / FUNCTION_APP_PACKAGES
            paths = (root, packages) if packages.is_dir() else (root,)
        entry_points = tuple(str(e) for e in manifest.get("entry_points") or ())
        return cls(name=manifest["name"], root=root.resolve(), entry_points=entry_points, paths=paths)

    @property
    def lambda_handlers(self) -> tuple[str, ...]:
        """The Lambda handlers (``module.function``) this artifact ships."""
        return tuple(e for e in self.entry_points if not e.endswith(".py"))

    @property
    def is_function_app(self) -> bool:
        """True for the Function App (its entry point is ``function_app.py``)."""
        return "function_app.py" in self.entry_points


def find_artifacts(artifacts_dir: Path) -> dict[str, ArtifactLayout]:
    """Every unzipped artifact under ``artifacts_dir`` (folders holding ``agentcage-artifact.json``)."""
    if not artifacts_dir.is_dir():
        return {}
    found = {}
    for child in sorted(artifacts_dir.iterdir()):
        if (child / ARTIFACT_MANIFEST).is_file():
            layout = ArtifactLayout.from_tree(child)
            found[layout.name] = layout
    return found


class ArtifactWorker:
    """One worker process over one artifact; :meth:`request` sends a request and waits for its reply."""

    def __init__(
        self,
        layout: ArtifactLayout,
        env: Mapping[str, str],
        *,
        python: str = sys.executable,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.layout = layout
        command = [
            python,
            "-I",  # no PYTHON* variables, no user site, not the script's folder
            "-S",  # no site-packages at all: only the artifact
            artifact_runtime.__file__,
            json.dumps([str(path) for path in layout.paths]),
        ]
        self.process = subprocess.Popen(  # noqa: S603 - a fixed argv: this interpreter and our runtime
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(env), cwd=layout.root
        )
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"worker-{layout.name}", daemon=True)
        self._reader.start()
        ready = self._reply(start_timeout_s, "start")
        self.pid = int(ready.get("pid") or self.process.pid)
        self.sys_path: list[str] = list(ready.get("sys_path") or ())

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while (frame := read_frame(stdout)) is not None:
                self._replies.put(frame)
        except (FrameError, OSError) as error:
            _log.error(
                "artifact worker %s (%s) broke the protocol: %s", self.layout.name, self.process.pid, error
            )
        finally:
            self._replies.put(None)

    def _reply(self, timeout_s: float, what: str) -> dict[str, Any]:
        try:
            reply = self._replies.get(timeout=timeout_s)
        except queue.Empty:
            self.kill()
            raise TransportError(
                f"artifact worker {self.layout.name} gave no answer to {what} within {timeout_s:g} s; killed"
            ) from None
        if reply is None:
            code = self.process.wait(10)
            raise TransportError(f"artifact worker {self.layout.name} exited with {code} during {what}")
        return reply

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def request(self, message: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send ``message``; its reply, or :class:`TransportError` if the worker failed or it raised."""
        stdin = self.process.stdin
        assert stdin is not None
        what = str(message.get("op"))
        try:
            write_frame(stdin, message)
        except OSError as error:
            raise TransportError(f"artifact worker {self.layout.name} is gone: {error}") from error
        reply = self._reply(timeout_s, what)
        if not reply.get("ok"):
            failure = reply.get("error") or {}
            raise TransportError(
                f"{self.layout.name}: {failure.get('type')}: {failure.get('message')}",
                details={
                    "artifact": self.layout.name,
                    "type": failure.get("type"),
                    "traceback": failure.get("traceback"),
                },
            )
        return reply

    def kill(self) -> None:
        """End the process now."""
        if self.alive:
            self.process.kill()
        self.process.wait(10)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Close its stdin (it exits when the stream ends); kill it if it does not."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()


class WorkerPool:
    """Up to ``max_workers`` workers of one artifact, each serving one request at a time."""

    def __init__(
        self,
        layout: ArtifactLayout,
        env: Callable[[], Mapping[str, str]],
        *,
        max_workers: int = 2,
        warm_modules: Sequence[str] = (),
        worker_factory: Callable[[ArtifactLayout, Mapping[str, str]], ArtifactWorker] = ArtifactWorker,
    ) -> None:
        if max_workers < 1:
            raise ConfigurationError("a worker pool needs at least one worker")
        self.layout = layout
        self.max_workers = max_workers
        self.warm_modules = tuple(warm_modules)
        self.started = 0  # workers started so far (cold starts)
        self.served = 0  # requests answered (successfully or with the function's error)
        self._env = env
        self._factory = worker_factory
        self._idle: list[ArtifactWorker] = []
        self._count = 0
        self._closed = False
        self._condition = threading.Condition()

    def _spawn(self) -> ArtifactWorker:
        started = time.perf_counter()
        worker = self._factory(self.layout, self._env())
        if self.warm_modules:
            worker.request({"op": "load", "modules": list(self.warm_modules)}, START_TIMEOUT_S)
        self.started += 1
        _log.info(
            "artifact worker %s started (pid %d) in %.2f s",
            self.layout.name,
            worker.pid,
            time.perf_counter() - started,
        )
        return worker

    def _checkout(self) -> ArtifactWorker | None:
        """An idle worker, or None when the caller may start a new one."""
        with self._condition:
            while True:
                if self._closed:
                    raise TransportError(f"the {self.layout.name} workers are stopped")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        return worker
                    self._count -= 1
                if self._count < self.max_workers:
                    self._count += 1
                    return None
                self._condition.wait()

    def _checkin(self, worker: ArtifactWorker | None) -> None:
        with self._condition:
            if worker is not None and worker.alive and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                if worker is not None:
                    worker.kill()
            self._condition.notify()

    def request(self, message: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """Serve ``message`` on an idle worker (starting one if needed and allowed)."""
        worker = self._checkout()
        try:
            if worker is None:
                worker = self._spawn()
            reply = worker.request(message, timeout_s)
        except TransportError:
            with self._condition:
                self.served += 1 if worker is not None and worker.alive else 0
            # The function's own error leaves a healthy worker; a dead or killed one is replaced.
            self._checkin(worker)
            raise
        except BaseException:
            if worker is not None:
                worker.kill()
            self._checkin(worker)
            raise
        with self._condition:
            self.served += 1
        self._checkin(worker)
        return reply

    @property
    def idle_workers(self) -> tuple[ArtifactWorker, ...]:
        """The workers waiting for a request (a snapshot)."""
        with self._condition:
            return tuple(self._idle)

    def warm(self) -> None:
        """Start one worker now (imports the entry points) so the first invocation is not a cold start."""
        self._checkin(self._spawn_counted())

    def _spawn_counted(self) -> ArtifactWorker:
        with self._condition:
            self._count += 1
        try:
            return self._spawn()
        except BaseException:
            self._checkin(None)
            raise

    def stop(self) -> None:
        """Stop every idle worker; busy ones are stopped when they are handed back."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._condition.notify_all()
        for worker in idle:
            worker.stop()
