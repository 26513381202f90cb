"""The cloud transport signs with SigV4 for execute-api; a loopback stand-in for API Gateway checks it.

The stand-in verifies each signature with an independent implementation of the SigV4 algorithm (the
AWS documentation's steps, hashlib and hmac only) over the request *as it arrived*, then hands the
request to the data service in-process, as API Gateway's Lambda proxy integration would.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from aws_lambda_powertools import Logger
from botocore.credentials import Credentials

from agentcage.errors import ConfigurationError, TransportError
from functions.aws import tool_executor
from functions.aws.executor import (
    InProcessTransport,
    PowertoolsToolMetrics,
    ServiceRequest,
    SigV4ApiGatewayTransport,
    SqsResultPublisher,
    build_executor,
    region_from_url,
)
from tests.functional.aws.executor.executor_support import ExecutorWorld, batch, record_for

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # the AWS documentation's example key
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN"  # an example value, nothing real
FIXED_NOW = datetime(2025, 6, 1, 14, 3, 27)  # noqa: DTZ001 - botocore's clock is naive UTC
STAGE = "/test"
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 "
    r"Credential=(?P<key>[A-Z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/execute-api/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def reference_signature(method: str, raw_path: str, headers: dict[str, str], body: bytes, signed: str) -> str:
    """SigV4 by the documented steps: canonical request, string to sign, HMAC key chain."""
    path, _, query = raw_path.partition("?")
    # execute-api (not S3): each path segment URI-encoded twice, i.e. the wire form encoded once more.
    canonical_uri = "/".join(quote(unquote(segment), safe="-_.~") for segment in path.split("/"))
    canonical_uri = "/".join(quote(segment, safe="-_.~%") for segment in canonical_uri.split("/"))
    pairs = sorted(
        (quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~"))
        for k, _, v in (item.partition("=") for item in query.split("&") if item)
    )
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    names = signed.split(";")
    lower = {k.lower(): " ".join(v.strip().split()) for k, v in headers.items()}
    canonical_headers = "".join(f"{name}:{lower[name]}\n" for name in names)
    canonical = "\n".join(
        [method, canonical_uri, canonical_query, canonical_headers, signed, hashlib.sha256(body).hexdigest()]
    )
    amz_date = lower["x-amz-date"]
    scope = f"{amz_date[:8]}/us-east-1/execute-api/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{SECRET_KEY}".encode()
    for part in (amz_date[:8], "us-east-1", "execute-api", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class StandInApi:
    """API Gateway on loopback: IAM auth (SigV4 checked), then the Lambda proxy integration in-process."""

    def __init__(self, gate: Any) -> None:
        self.catalog = gate.catalog
        self.seen: list[dict[str, Any]] = []
        # A held answer is sent only when the stand-in closes: a client that did not time out would get
        # it, however slow the machine (a fixed sleep races the client's timeout under load).
        self.hold = False
        self.released = threading.Event()
        self.transport = InProcessTransport()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = api.handle(self.command, self.path, dict(self.headers.items()), body)
                if api.hold:
                    api.released.wait(60)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away, as the timeout test wants

            do_GET = do_POST = do_DELETE = _serve  # noqa: N815 - http.server's naming

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{STAGE}"

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        import json

        match = AUTHORIZATION.match(headers.get("Authorization", ""))
        record = {"method": method, "path": raw_path, "headers": headers, "body": body, "auth": match}
        self.seen.append(record)
        if match is None or match["signature"] != reference_signature(
            method, raw_path, headers, body, match["signed"]
        ):
            return 403, b'{"message":"The request signature we calculated does not match"}'
        path, _, query = raw_path.partition("?")
        path = path.removeprefix(STAGE)
        for tool in self.catalog.values():
            pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(tool.path)) + "$"
            found = re.match(pattern, path)
            if found and tool.method == method:
                request = ServiceRequest(
                    tool.name,
                    method,
                    tool.path,
                    path,
                    {k: unquote(v) for k, v in found.groupdict().items()},
                    {k: unquote(v) for k, _, v in (p.partition("=") for p in query.split("&") if p)},
                    {
                        k: v
                        for k, v in headers.items()
                        if k.lower().startswith(("x-agentcage", "traceparent"))
                    },
                    json.loads(body) if body else None,
                )
                answer = self.transport.send(request)
                return answer.status, json.dumps(answer.body).encode()
        return 404, b'{"message":"Not Found"}'

    def __enter__(self) -> StandInApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *a, **k: FIXED_NOW)


@pytest.fixture
def api(world: ExecutorWorld) -> Iterator[StandInApi]:
    with StandInApi(world.executor.gate.gate) as stand_in:
        yield stand_in


def _transport(api: StandInApi, **kwargs: Any) -> SigV4ApiGatewayTransport:
    return SigV4ApiGatewayTransport(
        api.url, region="us-east-1", credentials=Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), **kwargs
    )


def test_requests_are_signed_for_execute_api_with_the_documented_authorization_shape(
    api: StandInApi, fixed_clock: None
) -> None:
    # GIVEN fixed credentials and a fixed clock
    transport = _transport(api)
    request = ServiceRequest(
        "listRecentOrders",
        "GET",
        "/customers/{customer_id}/orders",
        "/customers/C-1001/orders",
        {"customer_id": "C-1001"},
        {"limit": "2"},
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    )

    # WHEN it is sent
    answer = transport.send(request)

    # THEN API Gateway's stand-in accepted the signature and the service answered
    assert answer.status == 200, answer.body
    assert len(answer.body["orders"]) == 2
    [seen] = api.seen
    auth = seen["auth"]
    assert (auth["key"], auth["date"], auth["region"]) == (ACCESS_KEY, "20250601", "us-east-1")
    assert set(auth["signed"].split(";")) >= {"host", "x-amz-date", "x-amz-security-token"}
    # botocore leaves trace headers out of the signature (proxies may rewrite them); they still travel
    assert "traceparent" not in auth["signed"].split(";")
    assert seen["headers"]["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert seen["headers"]["X-Amz-Date"] == "20250601T140327Z"
    assert seen["headers"]["X-Amz-Security-Token"] == SESSION_TOKEN
    assert seen["path"] == f"{STAGE}/customers/C-1001/orders?limit=2"


def test_a_signed_post_with_a_body_and_the_executor_end_to_end(world: ExecutorWorld, api: StandInApi) -> None:
    # GIVEN the executor configured as in the cloud: SigV4 to the API's invoke URL
    executor = build_executor(
        gate=world.executor.gate.gate,
        ledger=world.ledger,
        transport=_transport(api),
        publisher=SqsResultPublisher(world.results_url, client=world.sqs),
        metrics=PowertoolsToolMetrics(),
        logger=Logger(service="tool_executor_test"),
    )
    records = [
        world.prepare(record_for("sqs_tool_requests_returns", tool))
        for tool in ("assessReturnException", "createRefund")
    ]

    response = tool_executor.process_batch(batch(*records), tool_executor=executor)

    # THEN both went through API Gateway, signed, with the refund's idempotency headers
    assert response == {"batchItemFailures": []}
    assert [d.result.status for d in world.results()] == ["ok", "ok"]
    assert [s["method"] for s in api.seen] == ["POST", "POST"]
    refund_headers = api.seen[1]["headers"]
    assert refund_headers["X-Agentcage-Approval-Id"].startswith("task-returns-0001.a")
    assert re.fullmatch(r"[0-9a-f]{64}", refund_headers["X-Agentcage-Args-Digest"])
    assert all(s["auth"] is not None for s in api.seen)


def test_a_tampered_signature_is_refused_by_the_stand_in(api: StandInApi) -> None:
    # The check is real: a request signed with another secret does not pass.
    transport = SigV4ApiGatewayTransport(
        api.url, region="us-east-1", credentials=Credentials(ACCESS_KEY, "not-the-secret")
    )
    answer = transport.send(
        ServiceRequest(
            "getCustomer", "GET", "/customers/{customer_id}", "/customers/C-1001", {"customer_id": "C-1001"}
        )
    )
    assert answer.status == 403


def test_a_slow_api_is_a_timeout_transport_error(api: StandInApi) -> None:
    api.hold = True
    transport = _transport(api, read_timeout_s=0.1)
    with pytest.raises(TransportError) as raised:
        transport.send(
            ServiceRequest(
                "getCustomer",
                "GET",
                "/customers/{customer_id}",
                "/customers/C-1001",
                {"customer_id": "C-1001"},
            )
        )
    assert raised.value.details == {"timeout": True}


def test_nobody_listening_is_a_transport_error() -> None:
    transport = SigV4ApiGatewayTransport(
        "http://127.0.0.1:9/test", region="us-east-1", credentials=Credentials(ACCESS_KEY, SECRET_KEY)
    )
    with pytest.raises(TransportError):
        transport.send(ServiceRequest("listVolumes", "GET", "/volumes", "/volumes"))


@pytest.mark.parametrize(
    "url",
    ["", "ftp://example.com/x", "http://api.example.com/dev", "not a url"],
)
def test_the_base_url_must_be_https_except_on_loopback(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTCAGE_API_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError):
        SigV4ApiGatewayTransport(url, region="us-east-1")


def test_the_region_comes_from_the_invoke_url() -> None:
    url = "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/dev"
    assert region_from_url(url) == "eu-central-1"
    assert SigV4ApiGatewayTransport(url, credentials=Credentials("a", "b")).region == "eu-central-1"
    assert urlsplit(SigV4ApiGatewayTransport(url, credentials=Credentials("a", "b")).base_url).path == "/dev"
