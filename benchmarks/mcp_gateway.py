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
  App Service principal header authenticated, the task chosen, the SDK's per-request stateless
  transport, the worker thread the lifecycle runs in, the result's JSON), in-process: no sockets.

The two alternate in blocks of ``--block`` calls so both see the same load. ``added_*`` is the mcp
side's percentile minus the direct side's. Goal (issue 13): at most 2 ms added at p50.

Usage: ``python benchmarks/mcp_gateway.py [--calls 600] [--block 50]``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

import anyio  # noqa: E402 - after the path set-up, as a script
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


def direct_block(backend: InstantBackend, customers: Customers, calls: int) -> list[float]:
    """``calls`` calls through the coordinator's path for external calls; milliseconds each."""
    external = backend.coordinator.external
    requester = Requester(kind="person", id=CALLER_ID, name="Bench Rep", roles=("service_rep",))
    samples = []
    task_id = ""
    for n in range(calls):
        if n % TASK_CALLS == 0:
            task_id = f"bench-{uuid.uuid4().hex[:20]}"
        arguments = {"customer_id": customers()}
        started = time.perf_counter()
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
        assert done.status == "done", done
    return samples


async def mcp_block(gateway: McpGateway, customers: Customers, calls: int) -> list[float]:
    """``calls`` ``tools/call`` requests from the SDK's client through the gateway; milliseconds each."""
    samples: list[float] = []
    transport = httpx2.ASGITransport(app=gateway)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=600, help="calls per side")
    parser.add_argument("--block", type=int, default=50, help="calls per side before switching")
    parser.add_argument("--warmup", type=int, default=40, help="calls per side not counted")
    args = parser.parse_args()

    backend = InstantBackend()
    settings = McpSettings(callers={"*": ("*",)}, environment="dev", wait_seconds=5)
    gateway = McpGateway(lambda: backend, settings=settings, principals=PrincipalSource(platform=True))
    customers = Customers()
    direct_block(backend, customers, args.warmup)
    anyio.run(mcp_block, gateway, customers, args.warmup)

    direct: list[float] = []
    via_mcp: list[float] = []
    while len(direct) < args.calls:
        size = min(args.block, args.calls - len(direct))
        direct.extend(direct_block(backend, customers, size))
        via_mcp.extend(anyio.run(mcp_block, gateway, customers, size))

    figures: dict[str, Any] = {
        "benchmark": "mcp_gateway",
        "calls_per_side": args.calls,
        "direct_p50_ms": round(statistics.median(direct), 3),
        "direct_p99_ms": round(percentile(direct, 0.99), 3),
        "mcp_p50_ms": round(statistics.median(via_mcp), 3),
        "mcp_p99_ms": round(percentile(via_mcp, 0.99), 3),
    }
    figures["added_p50_ms"] = round(figures["mcp_p50_ms"] - figures["direct_p50_ms"], 3)
    figures["added_p99_ms"] = round(figures["mcp_p99_ms"] - figures["direct_p99_ms"], 3)
    figures["goal_added_p50_ms"] = GOAL_ADDED_P50_MS
    figures["goal_met"] = figures["added_p50_ms"] <= GOAL_ADDED_P50_MS
    figures["python"] = platform.python_version()
    figures["machine"] = platform.machine()
    print(f"direct coordinator path: p50 {figures['direct_p50_ms']} ms, p99 {figures['direct_p99_ms']} ms")
    print(f"through MCP:             p50 {figures['mcp_p50_ms']} ms, p99 {figures['mcp_p99_ms']} ms")
    print(
        f"added by the MCP layer:  p50 {figures['added_p50_ms']} ms (goal <= {GOAL_ADDED_P50_MS} ms: "
        f"{'met' if figures['goal_met'] else 'NOT met'}), p99 {figures['added_p99_ms']} ms"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
