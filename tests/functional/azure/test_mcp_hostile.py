"""A hostile MCP client at the Function App's route: every abuse gets a clear structured answer (an HTTP
error with a JSON body, a JSON-RPC error, or a tool error), never a 500, and loses nothing.

The route is called as the Functions host calls it, behind App Service Authentication, with a 0 s wait
(a call answers ``pending`` and the fake executor answers when the test pumps the queues).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcage.coordinator.external import RESEND_AFTER_SECONDS
from tests.functional.azure.azure_support import http, principal_header
from tests.functional.azure.conftest import Harness, build_harness
from tests.functional.coordinator.coordinator_support import FakeClock, open_test_ledger

MODERN = "2026-07-28"
RITA = principal_header("5f1c0000-0000-0000-0000-0000000000c1", "Rita Rep", ("service_rep",))
MALLORY = principal_header("5f1c0000-0000-0000-0000-0000000000c2", "Mallory Rep", ("service_rep",))
READ = {"name": "getCustomer", "arguments": {"customer_id": "C-1001"}}


@pytest.fixture
def route(functions: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    import runtime
    from blueprints import http_mcp

    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    monkeypatch.setenv("AGENTCAGE_MCP_CALLERS", json.dumps({"*": ["returns-coordinator"]}))
    monkeypatch.setenv("AGENTCAGE_MCP_WAIT_SECONDS", "0")
    monkeypatch.setenv("AGENTCAGE_ENVIRONMENT", "dev")
    http_mcp._middleware.cache_clear()  # settings are read on first use
    clock = FakeClock()
    with open_test_ledger("memory", clock, tmp_path) as ledger:
        yield build_harness(functions, ledger, clock)
    http_mcp._middleware.cache_clear()
    runtime.set_runtime(None)


def _envelope(method: str, params: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    protocol = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "hostile", "version": "6.6.6"},
    }
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": method,
        "params": {**params, "_meta": {**protocol, **(meta or {})}},
    }


def _post(
    route: Harness,
    body: bytes | dict[str, Any],
    *,
    principal: str = RITA,
    conversation: str | None = "hostile-1",
    extra: dict[str, str] | None = None,
    name: str | None = None,
) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": MODERN,
        "X-MS-CLIENT-PRINCIPAL": principal,
        "Mcp-Method": "tools/call",
        "Mcp-Name": name or "getCustomer",
        **(extra or {}),
    }
    if conversation is not None:
        headers["X-Agentcage-Conversation"] = conversation
    response = route.functions["mcp"](http("POST", "mcp/returns-coordinator", body=raw, headers=headers))
    text = response.get_body() or b"{}"
    assert response.status_code != 500, text
    assert response.mimetype == "application/json", (response.status_code, text[:200])
    return response.status_code, json.loads(text)


def _sent(route: Harness) -> list[Any]:
    return [m for m in route.sender.messages if m.queue == "tool-requests"]


def test_an_oversized_body_is_refused_with_a_structured_413_before_anything_runs(route: Harness) -> None:
    body = _envelope("tools/call", {"name": "getCustomer", "arguments": {"customer_id": "C" * 200_000}})
    status, answer = _post(route, body)
    assert status == 413
    assert answer["error"]["code"] == "envelope_too_large"
    assert _sent(route) == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", -32700),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]', -32600),
        (b'{"jsonrpc": "2.0", "id": {"x": 1}, "method": "tools/call"}', -32600),
        (b'"just a string"', -32600),
        (b"9" * 5000, -32700),
    ],
)
def test_malformed_json_rpc_gets_a_json_rpc_error(route: Harness, raw: bytes, code: int) -> None:
    status, answer = _post(route, raw)
    assert 400 <= status < 500
    assert answer["error"]["code"] == code
    assert _sent(route) == []


def _raw(route: Harness, method: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, Any, Any]:
    sent = {"X-MS-CLIENT-PRINCIPAL": RITA, **headers}
    response = route.functions["mcp"](http(method, "mcp/returns-coordinator", body=body, headers=sent))
    assert response.mimetype == "application/json", response.get_body()
    return response.status_code, json.loads(response.get_body()), response.headers


@pytest.mark.parametrize(
    "path",
    [
        "mcp/.well-known/oauth-protected-resource/x/mcp/returns-coordinator",
        "mcp/other/mcp/returns-coordinator",
        "mcp/returns-coordinator/mcp/returns-coordinator",
        "xmcp/returns-coordinator",
    ],
)
def test_only_the_exact_agent_path_serves_an_agents_tools(route: Harness, path: str) -> None:
    # GIVEN a path that merely ends like an agent's (the route's catch-all hands the gateway any path)
    body = json.dumps(_envelope("tools/list", {})).encode()
    headers = {
        "X-MS-CLIENT-PRINCIPAL": RITA,
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": MODERN,
        "Mcp-Method": "tools/list",
    }
    response = route.functions["mcp"](http("POST", path, body=body, headers=headers))
    # THEN no MCP server answers there: a structured 404, no tool listed
    assert response.status_code == 404, response.get_body()
    assert json.loads(response.get_body())["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "mcp/x/mcp/.well-known/oauth-protected-resource",
        "mcp/.well-known/oauth-protected-resource/returns-coordinator/x",
    ],
)
def test_only_the_exact_metadata_paths_serve_the_metadata(route: Harness, path: str) -> None:
    response = route.functions["mcp"](http("GET", path, headers={}))
    assert response.status_code == 404, response.get_body()


def test_the_agent_and_metadata_paths_themselves_still_answer(route: Harness) -> None:
    for path in (
        "mcp/.well-known/oauth-protected-resource",
        "mcp/.well-known/oauth-protected-resource/returns-coordinator",
        "mcp/.well-known/oauth-protected-resource/returns-coordinator/",
    ):
        response = route.functions["mcp"](http("GET", path, headers={}))
        assert response.status_code == 200, (path, response.get_body())
    status, answer = _post(route, _envelope("tools/call", READ))
    assert status == 200, answer
    assert "result" in answer


@pytest.mark.parametrize("version", [MODERN, None])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_stream_or_session_request_is_refused_at_once(
    route: Harness, method: str, version: str | None
) -> None:
    # GIVEN a client asking for a server-sent stream (GET) or to end a session (DELETE): a stateless
    # gateway has neither, and an open GET would hold an invocation until the function timed out
    headers = {"Accept": "text/event-stream", **({"Mcp-Protocol-Version": version} if version else {})}
    status, answer, response_headers = _raw(route, method, headers)
    # THEN 405 at once, in the project's error shape, naming the one method served
    assert status == 405
    assert answer["error"]["code"] == "method_not_allowed"
    assert response_headers["Allow"] == "POST"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Content-Type": "application/json"}, 406, "not_acceptable"),
        ({"Content-Type": "text/plain", "Accept": "application/json, text/event-stream"}, 400, "bad_request"),
    ],
)
def test_the_transports_own_refusals_are_json_errors(
    route: Harness, headers: dict[str, str], status: int, code: str
) -> None:
    body = json.dumps(_envelope("tools/call", READ)).encode()
    answered, answer, _ = _raw(route, "POST", {**headers, "Mcp-Protocol-Version": MODERN}, body)
    assert (answered, answer["error"]["code"]) == (status, code)
    assert _sent(route) == []


def test_params_that_are_not_a_tool_call_get_invalid_params(route: Harness) -> None:
    body = _envelope("tools/call", {"name": "getCustomer", "arguments": ["C-1001"]})
    status, answer = _post(route, body)
    assert 400 <= status < 500
    assert answer["error"]["code"] == -32602
    assert _sent(route) == []


def test_arguments_that_fail_the_schema_are_a_tool_error_listing_the_problems(route: Harness) -> None:
    body = _envelope("tools/call", {"name": "getCustomer", "arguments": {"customer": "C-1001", "x": 1}})
    status, answer = _post(route, body)
    assert status == 200
    result = answer["result"]
    assert result["isError"] is True
    error = result["structuredContent"]["error"]
    assert error["code"] == "invalid_arguments"
    assert error["problems"]
    assert _sent(route) == []


@pytest.mark.parametrize("depth", [150, 400])
def test_deeply_nested_arguments_are_refused_not_a_crash(route: Harness, depth: int) -> None:
    nested: Any = "x"
    for _ in range(depth):
        nested = {"a": nested}
    body = _envelope("tools/call", {"name": "getCustomer", "arguments": {"customer_id": "C-1", "n": nested}})
    status, answer = _post(route, body)
    # The SDK refuses nesting past what its models accept (invalid params); below that, the schema does.
    if "error" in answer:
        assert (status, answer["error"]["code"]) == (400, -32602)
    else:
        assert status == 200
        assert answer["result"]["structuredContent"]["error"]["code"] == "invalid_arguments"
    assert _sent(route) == []


def test_another_callers_conversation_is_never_joined(route: Harness) -> None:
    # GIVEN Rita's call in her conversation
    _, rita = _post(route, _envelope("tools/call", READ), conversation="shared-name")
    # WHEN Mallory names the same conversation, in the header and in _meta, and the same call
    meta = {
        "agentcage/conversation": "shared-name",
        "agentcage/task_id": rita["result"]["_meta"]["agentcage/task_id"],
    }
    _, mallory = _post(
        route, _envelope("tools/call", READ, meta), principal=MALLORY, conversation="shared-name"
    )
    # THEN hers is a task of her own: she is not answered from Rita's call
    assert mallory["result"]["_meta"]["agentcage/task_id"] != rita["result"]["_meta"]["agentcage/task_id"]
    assert mallory["result"]["_meta"]["agentcage/call_id"] != rita["result"]["_meta"]["agentcage/call_id"]
    assert len(_sent(route)) == 2


def test_a_huge_meta_and_a_huge_conversation_id_are_bounded(route: Harness) -> None:
    meta = {f"k{n}": "v" * 100 for n in range(300)}
    meta["agentcage/conversation"] = "c" * 20_000
    status, answer = _post(route, _envelope("tools/call", READ, meta), conversation=None)
    assert status == 200, answer
    assert answer["result"]["isError"] is False
    task_id = answer["result"]["_meta"]["agentcage/task_id"]
    assert len(task_id) < 64
    assert len(_sent(route)) == 1
    # AND a conversation id that differs only past its first 20 000 characters is another task
    meta["agentcage/conversation"] += "d"
    _, other = _post(route, _envelope("tools/call", READ, meta), conversation=None)
    assert other["result"]["_meta"]["agentcage/task_id"] != task_id


@pytest.mark.parametrize("traceparent", ["garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01", "x" * 4000])
def test_a_garbage_traceparent_starts_a_fresh_trace(route: Harness, traceparent: str) -> None:
    meta = {"traceparent": traceparent[:500]}
    status, answer = _post(route, _envelope("tools/call", READ, meta), extra={"traceparent": traceparent})
    assert status == 200, answer
    assert answer["result"]["isError"] is False
    [sent] = _sent(route)
    request = json.loads(sent.body) if isinstance(sent.body, (str, bytes)) else sent.body
    assert request["traceparent"].startswith("00-")
    assert "0" * 32 not in request["traceparent"]


def test_concurrent_identical_calls_run_once(route: Harness) -> None:
    # GIVEN one client firing the same read call from several threads at once, in one conversation
    answers: list[tuple[int, dict[str, Any]]] = []
    barrier = threading.Barrier(6)

    def one() -> None:
        barrier.wait()
        answers.append(_post(route, _envelope("tools/call", READ), conversation="racing"))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every answer is the same call, and it was sent to the executor once
    assert {status for status, _ in answers} == {200}
    call_ids = {answer["result"]["_meta"]["agentcage/call_id"] for _, answer in answers}
    assert len(call_ids) == 1, answers
    assert len(_sent(route)) == 1
    # AND once the executor answered, a retry carries the one result
    route.pump.run()
    _, done = _post(route, _envelope("tools/call", READ), conversation="racing")
    assert done["result"]["structuredContent"]["customer_id"] == "C-1001"
    assert len(_sent(route)) == 1


def test_a_call_whose_send_failed_is_sent_again_by_the_retry_and_runs_once(route: Harness) -> None:
    # GIVEN Service Bus refuses the send of a call the coordinator has already decided and checkpointed
    route.sender.fail_next(1)
    status, failed = _post(route, _envelope("tools/call", READ), conversation="outage")
    # THEN the client hears a structured error, not a 500
    assert status == 200
    assert failed["result"]["isError"] is True
    assert _sent(route) == []
    # WHEN the client retries the same call a little later (a burst of repeats sends nothing again)
    _post(route, _envelope("tools/call", READ), conversation="outage")
    assert _sent(route) == []
    route.clock.advance(RESEND_AFTER_SECONDS)
    _, retried = _post(route, _envelope("tools/call", READ), conversation="outage")
    # THEN the retry sends the same request (it was never lost) and answers pending
    assert retried["result"]["structuredContent"]["status"] == "pending"
    assert len(_sent(route)) == 1
    # AND once the executor answered, the next retry carries the one result and sends nothing more
    route.pump.run()
    _, done = _post(route, _envelope("tools/call", READ), conversation="outage")
    assert done["result"]["structuredContent"]["customer_id"] == "C-1001"
    assert done["result"]["_meta"]["agentcage/call_id"] == retried["result"]["_meta"]["agentcage/call_id"]
    assert len(_sent(route)) == 1


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.mark.parametrize("method", ["tools/call", "tools/list"])
def test_an_unexpected_error_in_a_handler_names_the_trace_id_that_finds_its_log(
    route: Harness, method: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a bug below the gateway (not an agentcage error: nothing the caller did)
    from agentcage.mcp import gateway

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug in the depths")

    monkeypatch.setattr(route.coordinator.external, "propose", broken)
    monkeypatch.setattr(gateway, "listed_tools", broken)
    params = READ if method == "tools/call" else {}
    # WHEN a call meets it
    with caplog.at_level("ERROR", logger="agentcage.mcp"):
        status, answer = _post(
            route,
            _envelope(method, params),
            extra={"traceparent": TRACEPARENT, "Mcp-Method": method},
        )
    # THEN a JSON-RPC internal error carrying the caller's trace id, in the message and the data
    assert 200 <= status < 600
    assert answer["error"]["code"] == -32603, answer
    assert answer["error"]["data"] == {"trace_id": TRACE_ID}
    assert TRACE_ID in answer["error"]["message"]
    assert "a bug in the depths" not in json.dumps(answer)  # internals stay in the log
    # AND the log line names the same trace id, with the exception
    logged = [r for r in caplog.records if TRACE_ID in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None
