"""The artifact worker protocol: frames, the worker runtime's replies, isolation and a pool that replaces
a dead worker. The workers here serve a tiny artifact written by the test (stdlib only)."""

from __future__ import annotations

import io
import json
import struct
import sys
from pathlib import Path

import pytest

from agentcage.errors import TransportError
from agentcage.local.artifact_runtime import (
    MAX_FRAME_BYTES,
    FrameError,
    WorkerRuntime,
    encode_frame,
    read_frame,
    write_frame,
)
from agentcage.local.artifact_workers import ArtifactLayout, ArtifactWorker, WorkerPool, find_artifacts

GENEROUS_S = 120.0  # a cold interpreter on a loaded machine; nothing here measures time

HANDLERS = """
import os, sys

def echo(event, context):
    left = context.get_remaining_time_in_millis()
    return {"event": event, "function": context.function_name, "left_ms": left}

def shout(event, context):
    print("this goes to stderr, not into the protocol")
    raise ValueError("bad event " + str(event.get("n")))

def die(event, context):
    os._exit(3)

def where(event, context):
    return {"path": sys.path}
"""


@pytest.fixture
def artifact(tmp_path: Path) -> ArtifactLayout:
    root = tmp_path / "tiny"
    (root / "tinyfn").mkdir(parents=True)
    (root / "tinyfn" / "__init__.py").write_text("", encoding="utf-8")
    (root / "tinyfn" / "handlers.py").write_text(HANDLERS, encoding="utf-8")
    manifest = {"name": "tiny", "entry_points": ["tinyfn.handlers.echo"], "lock_file": "none"}
    (root / "agentcage-artifact.json").write_text(json.dumps(manifest), encoding="utf-8")
    return ArtifactLayout.from_tree(root)


def invoke(handler: str, **event: object) -> dict[str, object]:
    return {
        "op": "invoke_lambda",
        "handler": f"tinyfn.handlers.{handler}",
        "event": event,
        "context": {"function_name": "tiny-fn", "timeout_ms": 5000},
    }


# --- frames -----------------------------------------------------------------------------------------
def test_a_frame_round_trips_and_the_end_of_the_stream_is_none() -> None:
    stream = io.BytesIO()
    write_frame(stream, {"op": "load", "modules": ["a", "b"], "text": "é"})
    write_frame(stream, {"n": 2})
    stream.seek(0)

    assert read_frame(stream) == {"op": "load", "modules": ["a", "b"], "text": "é"}
    assert read_frame(stream) == {"n": 2}
    assert read_frame(stream) is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\x00\x00", "inside a frame header"),
        (struct.pack(">I", 10) + b'{"a":', "short of a frame"),
        (struct.pack(">I", MAX_FRAME_BYTES + 1), "at most"),
        (struct.pack(">I", 3) + b"[1]", "not a JSON object"),
        (struct.pack(">I", 3) + b"{x}", "not UTF-8 JSON"),
    ],
)
def test_a_torn_or_foreign_frame_is_a_frame_error(raw: bytes, problem: str) -> None:
    with pytest.raises(FrameError, match=problem):
        read_frame(io.BytesIO(raw))


def test_a_frame_larger_than_the_limit_is_refused_before_it_is_written() -> None:
    with pytest.raises(FrameError, match="larger than"):
        encode_frame({"blob": "x" * (MAX_FRAME_BYTES + 1)})


# --- the runtime's replies ----------------------------------------------------------------------------
def test_an_unknown_op_and_a_missing_module_are_structured_error_replies() -> None:
    runtime = WorkerRuntime()

    unknown = runtime.handle({"op": "reboot"})
    missing = runtime.handle({"op": "load", "modules": ["agentcage_no_such_module"]})

    assert unknown["ok"] is False
    assert "reboot" in unknown["error"]["message"]
    assert missing["ok"] is False
    assert missing["error"]["type"] == "ModuleNotFoundError"
    assert "agentcage_no_such_module" in missing["error"]["message"]


# --- a real worker process ----------------------------------------------------------------------------
def test_a_worker_runs_a_handler_with_only_its_artifact_and_the_stdlib_on_its_path(
    artifact: ArtifactLayout,
) -> None:
    worker = ArtifactWorker(artifact, {})
    try:
        echoed = worker.request(invoke("echo", n=1), GENEROUS_S)["value"]
        path = worker.request(invoke("where"), GENEROUS_S)["value"]["path"]
        # A package of the dev venv (this test's own interpreter has it) is not importable there.
        with pytest.raises(TransportError, match=r"ModuleNotFoundError.*pytest"):
            worker.request({"op": "load", "modules": ["pytest"]}, GENEROUS_S)
    finally:
        worker.stop()

    assert echoed["event"] == {"n": 1}
    assert echoed["function"] == "tiny-fn"
    assert 0 < echoed["left_ms"] <= 5000
    assert path[0] == str(artifact.root)
    stdlib = Path(sys.base_prefix).resolve()
    assert all(
        entry == str(artifact.root) or Path(entry).resolve().is_relative_to(stdlib) for entry in path
    ), path
    assert not any("site-packages" in entry for entry in path), path


def test_a_handler_that_raises_is_a_transport_error_naming_it_and_the_worker_lives_on(
    artifact: ArtifactLayout,
) -> None:
    worker = ArtifactWorker(artifact, {})
    try:
        with pytest.raises(TransportError, match="ValueError: bad event 7") as raised:
            worker.request(invoke("shout", n=7), GENEROUS_S)
        after = worker.request(invoke("echo", n=8), GENEROUS_S)
    finally:
        worker.stop()

    assert "handlers.py" in str(raised.value.details["traceback"])
    assert after["value"]["event"] == {"n": 8}


def test_the_pool_replaces_a_worker_that_died_mid_invocation(artifact: ArtifactLayout) -> None:
    pool = WorkerPool(artifact, dict, max_workers=1)
    try:
        with pytest.raises(TransportError, match="exited with 3"):
            pool.request(invoke("die"), GENEROUS_S)
        answered = pool.request(invoke("echo", n=2), GENEROUS_S)
    finally:
        pool.stop()

    assert answered["value"]["event"] == {"n": 2}
    assert pool.started == 2


def test_find_artifacts_reads_each_tree_with_a_manifest(artifact: ArtifactLayout, tmp_path: Path) -> None:
    (tmp_path / "not-an-artifact").mkdir()

    found = find_artifacts(tmp_path)

    assert list(found) == ["tiny"]
    assert found["tiny"].lambda_handlers == ("tinyfn.handlers.echo",)
    assert not found["tiny"].is_function_app
