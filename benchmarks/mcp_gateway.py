"""What the MCP layer adds to a read tool call, over the coordinator's own path, in the same run.

Both sides make the same call: ``getCustomer`` for a new customer id each time (a repeat would be
answered from the earlier call), in an external task of ``returns-coordinator`` (a new conversation
every ``TASK_CALLS`` calls: the agent's budget allows 16 tool calls per task). The ledger is the
in-memory one and the "executor" answers at once in the sender (it consumes the reservation, keeps its
answer in the ledger and hands the result to ``Coordinator.record_result``, as the queues would), so
the tool's own execution is the same small constant on both sides and cancels out.

- direct: ``ExternalCalls.open_task`` + ``propose`` + the send + ``where``, called in-process: the
  coordinator's lifecycle for one external call (gate, loop, circuit, reservation, checkpoint,
  dispatch, result recording).
- mcp: the same call as a ``tools/call`` from the ``mcp`` SDK's streamable-HTTP client (2026-07-28,
  one POST per call) through ``httpx2.ASGITransport`` into :class:`agentcage.mcp.McpGateway` (the
  App Service principal header authenticated, the task chosen, the SDK's stateless transport, the
  lifecycle, the result's JSON), in-process: no sockets. Two gateways, as each host configures it:
  ``function_app`` (``inline=True`` on an event loop kept across requests, as the route's worker
  threads keep theirs) and ``local_dev`` (the lifecycle on a worker thread, as under ``agentcage dev``,
  whose uvicorn loop serves every request).

Each mcp call is timed twice: end to end (the client's ``call_tool``) and at the ASGI boundary (from
the gateway being called to its last response byte handed to the server: what the server side adds,
without the client). The goal is judged on the server side of the ``function_app`` gateway: the
client's own work (building the JSON-RPC request, httpx, validating the result into pydantic models)
is the agent framework's, runs on this same CPU in-process, and has no counterpart in the direct path,
so end-to-end figures charge the gateway with a client it does not run; they are printed beside it.

The sides alternate in blocks of ``--block`` calls so all see the same load. ``added_*`` is a side's
percentile minus the direct side's; ``*_added_cpu_p50_ms`` is the same for the process's CPU time (all
threads), which a busy neighbour on a shared machine moves far less than wall time. Goal (issue 13): at
most 2 ms added at p50 (wall time). Run it several times on a shared machine and quote the medians.

Usage: ``python benchmarks/mcp_gateway.py [--calls 600] [--block 20]``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

import httpx2  # noqa: E402
import mcp_types as types  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from agentcage.approvals import PrincipalSource  # noqa: E402
from agentcage.coordinator import Coordinator, CoordinatorSettings, Outbox  # noqa: E402
from agentcage.envelopes import ToolResult, new_id  # noqa: E402
from agentcage.gate import GovernanceGate  # noqa: E402
from agentcage.ledger import open_ledger  # noqa: E402
from agentcage.ledger.answers import keep_answer  # noqa: E402
from agentcage.ledger.models import Requester  # noqa: E402
from agentcage.mcp import McpGateway, McpSettings  # noqa: E402
from agentcage.models import ScriptedModel  # noqa: E402
from agentcage.trace import continue_or_start  # noqa: E402

GOAL_ADDED_P50_MS = 2.0
AGENT = "returns-coordinator"
TASK_CALLS = 12
CALLER_ID = "5f1c0000-0000-0000-0000-0000000000b1"


class InstantBackend:
    """The coordinator, and a sender whose "executor" answers every tool request at once."""

    def __init__(self) -> None:
        self.ledger = open_ledger("memory")
        self.coordinator = Coordinator(
            ledger=self.ledger,
            gate=GovernanceGate.default(),
            model=ScriptedModel(),
            settings=CoordinatorSettings(environment="dev", public_base_url="https://coord.example"),
        )

    def dispatch(self, outbox: Outbox) -> None:
        for request in outbox.tool_requests:
            self.ledger.consume(request.reservation_id)
            result = ToolResult(
                message_id=new_id("res"),
                request_id=request.message_id,
                task_id=request.task_id,
                step=request.step,
                tool=request.tool,
                status="ok",
                result={"customer_id": request.args["customer_id"], "tier": "gold"},
                traceparent=request.traceparent,
                completed_at=self.ledger.now(),
            )
            keep_answer(self.ledger, result, reservation_id=request.reservation_id)
            self.coordinator.record_result(result)


def _principal_header() -> str:
    claims = [
        {"typ": "oid", "val": CALLER_ID},
        {"typ": "name", "val": "Bench Rep"},
        {"typ": "roles", "val": "service_rep"},
    ]
    document = {"auth_typ": "aad", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


class Customers:
    """A new customer id per call (a repeated call would be answered from the first)."""

    def __init__(self) -> None:
        self.next = 10_000

    def __call__(self) -> str:
        self.next += 1
        return f"C-{self.next}"


def direct_block(
    backend: InstantBackend, customers: Customers, calls: int
) -> tuple[list[float], list[float]]:
    """``calls`` calls through the coordinator's path for external calls; milliseconds each, of wall
    time and of the process's CPU time."""
    external = backend.coordinator.external
    requester = Requester(kind="person", id=CALLER_ID, name="Bench Rep", roles=("service_rep",))
    samples: list[float] = []
    cpu: list[float] = []
    task_id = ""
    for n in range(calls):
        if n % TASK_CALLS == 0:
            task_id = f"bench-{uuid.uuid4().hex[:20]}"
        arguments = {"customer_id": customers()}
        started, started_cpu = time.perf_counter(), time.process_time()
        trace = continue_or_start(None)
        task = external.open_task(
            task_id, agent_id=AGENT, requester=requester, request="bench", traceparent=trace.traceparent
        )
        outcome, outbox = external.propose(task, "getCustomer", arguments, trace=trace, client={"name": "b"})
        if outbox:
            backend.dispatch(outbox)
        assert outcome.call is not None
        done = external.where(task_id, outcome.call.request_id)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert done.status == "done", done
    return samples, cpu


class AsgiTimer:
    """An ASGI wrapper timing each ``tools/call`` from the app being called to its last response byte."""

    def __init__(self, app: Callable[[Any, Any, Any], Awaitable[None]]) -> None:
        self.app = app
        self.samples: list[float] = []
        self.cpu: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = bytearray()
        finished = finished_cpu = 0.0

        async def receiving() -> Any:
            message = await receive()
            body.extend(message.get("body") or b"")
            return message

        async def sending(message: Any) -> None:
            nonlocal finished, finished_cpu
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished, finished_cpu = time.perf_counter(), time.process_time()

        started, started_cpu = time.perf_counter(), time.process_time()
        await self.app(scope, receiving, sending)
        # Which request it was is read after the clock stopped (a client also sends other requests).
        if body and json.loads(bytes(body)).get("method") == "tools/call":
            self.samples.append((finished - started) * 1000)
            self.cpu.append((finished_cpu - started_cpu) * 1000)


async def mcp_block(timer: AsgiTimer, customers: Customers, calls: int) -> list[float]:
    """``calls`` ``tools/call`` requests from the SDK's client through the gateway; milliseconds each."""
    samples: list[float] = []
    transport = httpx2.ASGITransport(app=timer)
    done = 0
    while done < calls:
        headers = {"X-MS-CLIENT-PRINCIPAL": _principal_header(), "X-Agentcage-Conversation": uuid.uuid4().hex}
        async with httpx2.AsyncClient(transport=transport, headers=headers, base_url="http://coord") as http:
            info = types.Implementation(name="bench", version="1")
            url = f"http://coord/api/mcp/{AGENT}"
            async with Client(streamable_http_client(url, http_client=http), client_info=info) as client:
                for _ in range(min(TASK_CALLS, calls - done)):
                    arguments = {"customer_id": customers()}
                    started = time.perf_counter()
                    result = await client.call_tool("getCustomer", arguments)
                    samples.append((time.perf_counter() - started) * 1000)
                    assert result.is_error is False, result
                    done += 1
    return samples


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _figures(name: str, samples: list[float], direct: list[float]) -> dict[str, float]:
    p50, p99 = statistics.median(samples), percentile(samples, 0.99)
    base50, base99 = statistics.median(direct), percentile(direct, 0.99)
    return {
        f"{name}_p50_ms": round(p50, 3),
        f"{name}_p99_ms": round(p99, 3),
        f"{name}_added_p50_ms": round(p50 - base50, 3),
        f"{name}_added_p99_ms": round(p99 - base99, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=600, help="calls per side")
    parser.add_argument("--block", type=int, default=20, help="calls per side before switching")
    parser.add_argument("--warmup", type=int, default=40, help="calls per side not counted")
    args = parser.parse_args()

    backend = InstantBackend()
    settings = McpSettings(callers={"*": ("*",)}, environment="dev", wait_seconds=5)
    principals = PrincipalSource(platform=True)
    sides = {
        "function_app": AsgiTimer(
            McpGateway(lambda: backend, settings=settings, principals=principals, inline=True)
        ),
        "local_dev": AsgiTimer(McpGateway(lambda: backend, settings=settings, principals=principals)),
    }
    end_to_end: dict[str, list[float]] = {name: [] for name in sides}
    customers = Customers()
    # The Function App's worker threads keep their event loop across requests; so does this.
    with asyncio.Runner() as loop:
        direct_block(backend, customers, args.warmup)
        for timer in sides.values():
            loop.run(mcp_block(timer, customers, args.warmup))
            timer.samples.clear()
            timer.cpu.clear()
        direct: list[float] = []
        direct_cpu: list[float] = []
        while len(direct) < args.calls:
            size = min(args.block, args.calls - len(direct))
            wall, cpu = direct_block(backend, customers, size)
            direct.extend(wall)
            direct_cpu.extend(cpu)
            for name, timer in sides.items():
                end_to_end[name].extend(loop.run(mcp_block(timer, customers, size)))

    figures: dict[str, Any] = {
        "benchmark": "mcp_gateway",
        "calls_per_side": args.calls,
        "direct_p50_ms": round(statistics.median(direct), 3),
        "direct_p99_ms": round(percentile(direct, 0.99), 3),
        "direct_cpu_p50_ms": round(statistics.median(direct_cpu), 3),
    }
    for name, timer in sides.items():
        figures.update(_figures(f"{name}_server", timer.samples, direct))
        figures.update(_figures(f"{name}_end_to_end", end_to_end[name], direct))
        # CPU time (every thread of this process) moves far less with a busy neighbour than wall time.
        figures[f"{name}_server_added_cpu_p50_ms"] = round(
            statistics.median(timer.cpu) - statistics.median(direct_cpu), 3
        )
    judged = figures["function_app_server_added_p50_ms"]
    figures["goal_added_p50_ms"] = GOAL_ADDED_P50_MS
    figures["goal_judged_on"] = "function_app_server_added_p50_ms"
    figures["goal_met"] = judged <= GOAL_ADDED_P50_MS
    figures["python"] = platform.python_version()
    figures["machine"] = platform.machine()
    direct_line = f"p50 {figures['direct_p50_ms']:7.3f} ms  p99 {figures['direct_p99_ms']:7.3f} ms"
    print(f"{'direct coordinator path:':35s} {direct_line}")
    for name in sides:
        for where in ("server", "end_to_end"):
            key = f"{name}_{where}"
            a50, a99 = figures[key + "_added_p50_ms"], figures[key + "_added_p99_ms"]
            added = f"added p50 {a50:7.3f} ms  p99 {a99:7.3f} ms"
            print(
                f"{name + ' ' + where.replace('_', '-') + ':':35s} p50 {figures[key + '_p50_ms']:7.3f} ms  "
                f"p99 {figures[key + '_p99_ms']:7.3f} ms   {added}"
            )
        print(
            f"{name + ' server CPU time:':35s} added p50 {figures[name + '_server_added_cpu_p50_ms']:7.3f} ms"
        )
    print(
        f"goal: <= {GOAL_ADDED_P50_MS} ms added at p50, judged on the Function App gateway's server side "
        f"(the ASGI boundary, without the client): {judged} ms, {'met' if figures['goal_met'] else 'NOT met'}"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
