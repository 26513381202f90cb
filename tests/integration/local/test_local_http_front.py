"""The local host's HTTP front over real sockets: bursts, the banner's example, errors, local routes."""

from __future__ import annotations

import http.client
import json
import shlex
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from agentcage.cli.dev import curl_example
from agentcage.local import LocalHost
from agentcage.local.client import AgentcageClient
from agentcage.local.discovery import AzureFunction, HttpRoute
from agentcage.local.server import MAX_BODY_BYTES, LocalHttpServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
BURST = 50
# Upper bound for a loaded 2-core machine, not a measurement.
ANSWERED_WITHIN_S = 120.0


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=ANSWERED_WITHIN_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_burst_of_concurrent_task_posts_is_all_accepted(host: LocalHost) -> None:
    # GIVEN 50 clients ready to POST at the same moment (the stdlib server reset a burst of 20)
    start = threading.Barrier(BURST)
    body = json.dumps({"request": "Fetch customer C-1001.", "context": {"scenario": "hallucinate"}}).encode()

    def post(_: int) -> tuple[int, Any]:
        start.wait(ANSWERED_WITHIN_S)
        return _post(f"{host.url}/api/tasks", body, {"Content-Type": "application/json"})

    # WHEN they all POST /api/tasks at once
    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(post, range(BURST)))
    # THEN every one is accepted with a task of its own
    assert [status for status, _ in answers] == [202] * BURST, answers
    assert len({answer["task_id"] for _, answer in answers}) == BURST


def test_the_banners_curl_example_starts_a_task(host: LocalHost) -> None:
    # GIVEN the exact command the `agentcage dev` banner prints
    command = shlex.split(curl_example(host.url))
    # WHEN it is run
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    # THEN the task is accepted
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["task_id"], answer
    assert AgentcageClient(host.url).get_task(answer["task_id"])["agent"] == "returns-coordinator"


def test_form_data_is_415_naming_the_expected_type_and_the_callers_trace(host: LocalHost) -> None:
    # WHEN a body is sent as form data (what `curl -d` does without a Content-Type)
    status, answer = _post(f"{host.url}/api/tasks", b'{"request": "x"}', {"traceparent": TRACEPARENT})
    # THEN the answer says which type to send, and carries the caller's trace id
    assert status == 415
    error = answer["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert error["details"]["expected"] == "application/json"
    assert error["details"]["received"] == "application/x-www-form-urlencoded"
    assert error["trace_id"] == TRACE_ID


def _raw_request(url: str, head: str) -> tuple[int, dict[str, Any]]:
    """Send a request's head only (no body) and read the answer: a declared body is never sent."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=ANSWERED_WITHIN_S) as connection:
        connection.sendall(head.encode())
        raw = b""
        while chunk := connection.recv(65536):
            raw += chunk
            header, _, body = raw.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in header.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                None,
            )
            if length is not None and len(body) >= length:
                break
    status = int(raw.split(b" ", 2)[1])
    return status, json.loads(raw.partition(b"\r\n\r\n")[2])


def _authority(url: str) -> str:
    """``host:port`` of a base URL: the Host header a client of that URL sends."""
    return url.removeprefix("http://")


def _send(url: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, Any]:
    """One request with exactly these headers (``Host`` included: ``http.client`` adds none)."""
    where = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=ANSWERED_WITHIN_S)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


REBOUND = "evil.example"
"""A name an attacker re-points at 127.0.0.1: to the victim's browser its page and the port are one origin."""


def test_a_rebound_host_name_is_refused_421_on_every_route_and_mount(host: LocalHost) -> None:
    # GIVEN the requests a DNS-rebinding page sends from the victim's browser: addressed to the
    # attacker's name with the served port, and same-origin as far as the browser can tell
    port = urllib.parse.urlsplit(host.url).port
    rebound = {
        "Host": f"{REBOUND}:{port}",
        "Origin": f"http://{REBOUND}:{port}",
        "Sec-Fetch-Site": "same-origin",
        "Content-Type": "application/json",
        "traceparent": TRACEPARENT,
    }
    own = {**rebound, "Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port}"}
    task = json.dumps({"request": "Fetch customer C-1001.", "context": {"scenario": "hallucinate"}}).encode()
    status, created = _send(host.url, "POST", "/api/tasks", own, task)
    assert status == 202, created
    decision = json.dumps({"decision": "approve", "args_digest": "0" * 64}).encode()
    mcp = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    attempts = [
        ("POST", "/api/tasks", {}, task),
        ("GET", "/api/tasks", {}, b""),
        ("GET", f"/api/tasks/{created['task_id']}", {}, b""),
        ("GET", "/api/approvals/a-1", {}, b""),
        ("GET", "/api/console/", {}, b""),
        ("POST", "/api/console/approvals/a-1/decision", {"X-Agentcage-Console": "decide"}, decision),
        ("POST", "/api/mcp/returns-coordinator", {"Accept": "application/json, text/event-stream"}, mcp),
        ("GET", "/api/mcp/.well-known/oauth-protected-resource", {}, b""),
        ("GET", "/_agentcage/health", {}, b""),
        ("GET", "/_agentcage/tasks", {}, b""),
    ]
    before = len(AgentcageClient(host.url).local_tasks(limit=500))
    # WHEN each is sent
    for method, path, extra, body in attempts:
        status, answer = _send(host.url, method, path, {**rebound, **extra}, body)
        # THEN none is answered but by the 421, in the project's error shape with the caller's trace
        assert status == 421, (method, path, status, answer)
        assert answer["error"]["code"] == "misdirected_request", (method, path)
        assert answer["error"]["trace_id"] == TRACE_ID
    # AND nothing was created
    assert len(AgentcageClient(host.url).local_tasks(limit=500)) == before


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_the_loopback_names_are_still_answered(host: LocalHost, name: str) -> None:
    port = urllib.parse.urlsplit(host.url).port
    status, answer = _send(host.url, "GET", "/api/tasks", {"Host": f"{name}:{port}"})
    assert status == 200, answer
    status, _ = _send(
        host.url, "GET", "/api/mcp/.well-known/oauth-protected-resource", {"Host": f"{name}:{port}"}
    )
    assert status == 200


@pytest.mark.parametrize("path", ["/api/console", "/api/console/", "/api/console/circuits"])
def test_head_on_a_console_page_answers_its_headers(host: LocalHost, path: str) -> None:
    # WHEN a console page is asked for its headers only (a link checker, a monitor)
    connection = http.client.HTTPConnection(
        urllib.parse.urlsplit(host.url).hostname,
        urllib.parse.urlsplit(host.url).port,
        timeout=ANSWERED_WITHIN_S,
    )
    try:
        connection.request("HEAD", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    # THEN the page's status and headers, without a body (the route no longer answers 405)
    assert response.status == 200, response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert body == b""


def test_agentcage_dev_allow_host_answers_exactly_the_forwarded_host_and_port(tmp_path: Path) -> None:
    from tests.integration.local.conftest import DevProcess, dev_environment

    # GIVEN `agentcage dev` behind a port forward (ssh -L 18080:127.0.0.1:<port>), told its two names
    dev = DevProcess(
        tmp_path / "state",
        dev_environment(),
        ["--allow-host", "localhost:18080", "--allow-host", "127.0.0.1:18080"],
    )
    try:
        port = urllib.parse.urlsplit(dev.url).port
        answers = {
            host: _send(dev.url, "GET", "/api/tasks", {"Host": host, "traceparent": TRACEPARENT})
            for host in (
                "localhost:18080",  # WHEN the forward's browser names the forwarded port
                "127.0.0.1:18080",
                f"localhost:{port}",  # the served port still answers
                "localhost:18081",  # AND a port nobody allowed
                f"{REBOUND}:18080",  # AND a rebound name with the forwarded port
                "[::1]:18080",  # AND a loopback name not given with that port
            )
        }
    finally:
        dev.stop()
    # THEN exactly the allowed values are answered; every other Host is the structured 421
    assert {host: status for host, (status, _) in answers.items()} == {
        "localhost:18080": 200,
        "127.0.0.1:18080": 200,
        f"localhost:{port}": 200,
        "localhost:18081": 421,
        f"{REBOUND}:18080": 421,
        "[::1]:18080": 421,
    }
    assert answers["localhost:18081"][1]["error"]["code"] == "misdirected_request"
    assert answers["localhost:18081"][1]["error"]["trace_id"] == TRACE_ID


def test_a_body_over_the_hosts_limit_is_413_with_the_callers_trace_id(host: LocalHost) -> None:
    # WHEN a request declares a body larger than the host accepts
    head = (
        f"POST /api/tasks HTTP/1.1\r\nHost: {_authority(host.url)}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\ntraceparent: {TRACEPARENT}\r\n\r\n"
    )
    status, answer = _raw_request(host.url, head)
    # THEN it is refused before the body is read, with the project's error body and the caller's trace
    assert status == 413
    assert answer["error"]["code"] == "too_large"
    assert answer["error"]["trace_id"] == TRACE_ID


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/api/nothing", 404), ("DELETE", "/api/tasks", 405)]
)
def test_unknown_routes_and_methods_carry_the_callers_trace_id(
    host: LocalHost, method: str, path: str, status: int
) -> None:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {_authority(host.url)}\r\nContent-Length: 0\r\n"
        f"traceparent: {TRACEPARENT}\r\n\r\n"
    )
    answered, answer = _raw_request(host.url, head)
    assert answered == status
    assert answer["error"]["trace_id"] == TRACE_ID


def test_the_local_routes_list_tasks_and_show_a_timeline(host: LocalHost) -> None:
    client = AgentcageClient(host.url)
    started = client.start_task("Fetch customer C-1001.", context={"scenario": "hallucinate"})
    client.wait_settled(started["task_id"], timeout_s=ANSWERED_WITHIN_S)
    listed = client.local_tasks(limit=500)
    assert started["task_id"] in [task["task_id"] for task in listed]
    trace = client.local_trace(started["task_id"])
    assert trace["state"] == "completed"
    assert trace["events"][0]["kind"] == "task_created"
    status, answer = _raw_request(
        host.url, f"GET /_agentcage/tasks?limit=0 HTTP/1.1\r\nHost: {_authority(host.url)}\r\n\r\n"
    )
    assert status == 400
    assert answer["error"]["code"] == "invalid_input"


# --- the server alone, with a function that waits for the test ----------------------------------------
class SlowFunction:
    """An HTTP function that answers only once released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, req: func.HttpRequest) -> func.HttpResponse:
        self.entered.set()
        self.release.wait(ANSWERED_WITHIN_S)
        return func.HttpResponse(json.dumps({"path": req.url}), mimetype="application/json")

    def spec(self) -> AzureFunction:
        return AzureFunction(
            name="slow",
            user_function=self,
            trigger_type="httpTrigger",
            trigger_arg="req",
            route=HttpRoute.of("api", "slow", ("GET",)),
            parameters=("req",),
        )


def test_stopping_lets_a_running_request_finish_then_refuses_connections() -> None:
    # GIVEN a server with a request inside a function
    slow = SlowFunction()
    server = LocalHttpServer((slow.spec(),), deliver=lambda _: None, health=dict, port=0)
    server.start()
    url = server.url
    answers: list[int] = []
    request = threading.Thread(
        target=lambda: answers.append(urllib.request.urlopen(f"{url}/api/slow", timeout=60).status)
    )
    request.start()
    assert slow.entered.wait(ANSWERED_WITHIN_S)
    # WHEN the server is stopped while it runs, and the function then returns
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    slow.release.set()
    stopping.join(ANSWERED_WITHIN_S)
    request.join(ANSWERED_WITHIN_S)
    # THEN the running request got its answer, and the port no longer accepts connections
    assert not stopping.is_alive()
    assert answers == [200]
    host, port = url.removeprefix("http://").split(":")
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=5).close()


def test_a_mounted_app_serves_its_prefix_beside_the_functions() -> None:
    slow = SlowFunction()
    slow.release.set()
    server = LocalHttpServer((slow.spec(),), deliver=lambda _: None, health=dict, port=0)

    async def console(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = f"console at {scope['root_path']} for {scope['path']}".encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": body})

    server.mount("/console", console)
    server.start()
    try:
        with urllib.request.urlopen(f"{server.url}/console/approvals", timeout=60) as response:
            assert response.read() == b"console at /console for /console/approvals"
        with urllib.request.urlopen(f"{server.url}/api/slow", timeout=60) as response:
            assert response.status == 200
    finally:
        server.stop()


def test_a_taken_port_is_a_configuration_error_naming_it() -> None:
    from agentcage.errors import ConfigurationError

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"127.0.0.1:{port}"):
            LocalHttpServer((), deliver=lambda _: None, health=dict, port=port)
