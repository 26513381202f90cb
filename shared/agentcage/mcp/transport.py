"""The ``mcp`` SDK's streamable-HTTP transport, started once per event loop instead of once per request.

A ``StreamableHTTPSessionManager`` must be running (``run()``: the server's lifespan and a task group)
before it answers, and ``run()`` may be entered only once per instance. Entering it for every request
cost a lifespan, a task group and their teardown per call. :class:`SessionManagers` starts one manager
on an event loop's first request and keeps it for the loop's life; every later request on that loop
reuses it.

Sharing it is safe because the manager is stateless (``stateless=True``): it keeps no session, no event
store and no per-client record between requests (a 2026-07-28 request is answered in the request's own
task; a legacy request gets a fresh transport and server task that end with it). Any instance still
answers any request the same way, which ``tests/functional/azure/test_mcp_instances.py`` checks.

One per *loop*, not per process: a manager's task group belongs to the loop it was started on. The
Function App keeps one loop per worker thread (:mod:`functions.azure.blueprints.http_mcp`), uvicorn one
for the server; a loop that ends cancels its manager's holder, which forgets it.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable

import anyio
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = ["SessionManagers"]


class SessionManagers:
    """One running ``StreamableHTTPSessionManager`` per event loop, made by ``factory`` on first use."""

    def __init__(self, factory: Callable[[], StreamableHTTPSessionManager]) -> None:
        self._factory = factory
        self._lock = threading.Lock()  # loops on several threads (the Functions thread pool) share this
        self._running: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[asyncio.Future[StreamableHTTPSessionManager], asyncio.Task[None]]
        ] = weakref.WeakKeyDictionary()

    async def current(self) -> StreamableHTTPSessionManager:
        """The running manager of this event loop (started now when it has none)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._running.get(loop)
            if entry is None:
                ready: asyncio.Future[StreamableHTTPSessionManager] = loop.create_future()
                # The task is kept here: the loop itself holds tasks only weakly.
                entry = (ready, loop.create_task(self._hold(loop, ready), name="mcp-session-manager"))
                self._running[loop] = entry
        # Shielded: a request cancelled while it waits must not cancel the start every request shares.
        return await asyncio.shield(entry[0])

    def started(self) -> int:
        """How many loops have a manager now (for tests and diagnostics)."""
        with self._lock:
            return len(self._running)

    async def _hold(
        self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[StreamableHTTPSessionManager]
    ) -> None:
        """Run a manager until the loop ends (its tasks are cancelled then), then forget it."""
        try:
            manager = self._factory()
            async with manager.run():
                ready.set_result(manager)
                await anyio.sleep_forever()
        except BaseException as error:
            if not ready.done():  # a manager that never started: its waiters hear why
                ready.set_exception(
                    error if isinstance(error, Exception) else RuntimeError("the MCP transport stopped")
                )
            raise
        finally:
            with self._lock:
                if self._running.get(loop, (None,))[0] is ready:
                    del self._running[loop]
