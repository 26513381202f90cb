"""Test doubles for the DynamoDB ledger: moto, in-process or as ``moto_server`` on loopback.

DynamoDB applies every request atomically (per item); that is what the ledger's conditional
writes and transactions rely on. moto does not: its handlers run concurrently in threads, and a
failed ``TransactWriteItems`` restores a snapshot of the whole table taken when it began, undoing
writes other threads made meanwhile. :func:`serialize_moto_dynamodb` and ``moto_server(...,
serialized=True)`` give moto the per-request atomicity DynamoDB has, by running one DynamoDB request
at a time; the clients still race each other exactly as they would against the real service.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["dynamodb_client", "free_port", "moto_server", "serialize_moto_dynamodb"]

_REQUEST_METHODS = (
    "get_item", "put_item", "update_item", "delete_item", "query", "scan",
    "transact_write_items", "transact_get_items", "batch_get_item", "batch_write_item",
)  # fmt: skip
_LOCK = threading.RLock()


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    call.__wrapped_by_agentcage__ = True  # type: ignore[attr-defined]
    return call


@contextlib.contextmanager
def serialize_moto_dynamodb() -> Iterator[None]:
    """Within the block, moto's DynamoDB handles one request at a time (see the module doc).

    The lock covers the whole request (``DynamoHandler.call_action``), not only the backend call: the
    backend hands the handler the live item, which it turns into the response afterwards, so with the
    backend alone locked two concurrent ``ADD`` updates could both answer the later value (``UPDATED_NEW``).
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    targets = [(DynamoDBBackend, name) for name in _REQUEST_METHODS] + [(DynamoHandler, "call_action")]
    originals = {(owner, name): getattr(owner, name) for owner, name in targets}
    for (owner, name), method in originals.items():
        if not getattr(method, "__wrapped_by_agentcage__", False):
            setattr(owner, name, _locked(method))
    try:
        yield
    finally:
        for (owner, name), method in originals.items():
            setattr(owner, name, method)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


_SERIALIZED_LAUNCHER = """
import sys
from agentcage.ledger.testing import serialize_moto_dynamodb
from moto.server import main
with serialize_moto_dynamodb():
    main(sys.argv[1:])
"""


@contextlib.contextmanager
def moto_server(
    *, host: str = "127.0.0.1", port: int | None = None, serialized: bool = True
) -> Iterator[str]:
    """Run ``moto_server -H host -p port`` as a subprocess; yields its endpoint URL and stops it after.

    With ``serialized`` (the default) the server is moto's own ``main`` run under
    :func:`serialize_moto_dynamodb`; without, it is the ``moto_server`` script as installed.
    """
    chosen = port or free_port(host)
    arguments = ["-H", host, "-p", str(chosen)]
    if serialized:
        command = [sys.executable, "-c", _SERIALIZED_LAUNCHER, *arguments]
    else:
        script = Path(sys.executable).with_name("moto_server")
        command = [
            str(script) if script.exists() else shutil.which("moto_server") or "moto_server",
            *arguments,
        ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603 - fixed argv
    try:
        _wait_for(host, chosen, process)
        yield f"http://{host}:{chosen}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"moto_server did not listen on {host}:{port} within {timeout:g} s")


def dynamodb_client(endpoint_url: str | None = None, *, region: str = "us-east-1") -> DynamoDBClient:
    """A DynamoDB client for moto: dummy credentials (moto accepts any), standard retries, a wide pool."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="moto",
        aws_secret_access_key="moto",  # noqa: S106 - moto accepts any value; nothing real
        config=Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 5}),
    )
