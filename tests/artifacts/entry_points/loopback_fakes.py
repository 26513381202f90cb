"""Loopback stand-ins for the endpoints moto does not serve, each a tiny HTTP(S) server in a thread.

- :class:`FakeApiGateway`: the REST API stage the executor calls with SigV4; answers ``getCustomer``
  from the seed data and records each request (so a test can see it was signed).
- :class:`FakeWebIdentitySts`: STS ``GetWebIdentityToken`` (IAM outbound identity federation).
- :class:`FakeEntra`: the Entra token endpoint, over TLS with a throw-away certificate (azure-identity
  accepts only an https authority), answering a client-assertion grant.
- :class:`FakeManagedIdentity`: App Service's managed identity endpoint (``IDENTITY_ENDPOINT``).

Each keeps what it was asked in ``requests`` for the test to check.
"""

from __future__ import annotations

import abc
import datetime as dt
import ipaddress
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "FakeApiGateway",
    "FakeEntra",
    "FakeManagedIdentity",
    "FakeWebIdentitySts",
    "RecordedRequest",
    "self_signed_certificate",
    "serving",
]

_SEED = Path(__file__).resolve().parents[3] / "functions" / "aws" / "services" / "seed_data.json"


@dataclass(frozen=True)
class RecordedRequest:
    """One request a fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What a fake answers."""

    status: int
    body: bytes
    content_type: str = "application/json"


class LoopbackFake(abc.ABC):
    """Base: override :meth:`answer`; ``url`` is set once :func:`serving` started it."""

    tls: ClassVar[bool] = False

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()

    @abc.abstractmethod
    def answer(self, request: RecordedRequest) -> Reply:
        """The reply to ``request``."""

    def handle(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        return self.answer(request)


def _json(status: int, document: Any) -> Reply:
    return Reply(status, json.dumps(document).encode("utf-8"))


def _handler_for(fake: LoopbackFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
            try:
                reply = fake.handle(request)
            except Exception as error:
                reply = _json(599, {"error": f"{type(error).__name__}: {error}"})
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's names

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    return Handler


@contextmanager
def serving(fake: LoopbackFake, *, certificate: tuple[Path, Path] | None = None) -> Iterator[LoopbackFake]:
    """Serve ``fake`` on a free loopback port (over TLS with ``certificate`` = (cert, key))."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    scheme = "http"
    if certificate is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    fake.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name=type(fake).__name__, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class FakeApiGateway(LoopbackFake):
    """The API stage ``/<stage>``: ``GET /customers/{id}`` from the seed data, else a 404 error body."""

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage
        seed = json.loads(_SEED.read_text(encoding="utf-8"))
        self.customers = {
            customer["customer_id"]: {k: v for k, v in customer.items() if k != "orders"}
            for customer in seed["customers"]
        }

    @property
    def base_url(self) -> str:
        """The stage's invoke URL (what ``AGENTCAGE_API_BASE_URL`` holds)."""
        return f"{self.url}/{self.stage}"

    def answer(self, request: RecordedRequest) -> Reply:
        prefix = f"/{self.stage}/customers/"
        path = urlsplit(request.path).path
        if request.method == "GET" and path.startswith(prefix) and path[len(prefix) :] in self.customers:
            return _json(200, self.customers[path[len(prefix) :]])
        return _json(404, {"error": {"code": "not_found", "message": f"no route {path}", "trace_id": None}})


class FakeWebIdentitySts(LoopbackFake):
    """STS (query protocol) answering ``GetWebIdentityToken`` with an opaque JWT-shaped token."""

    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcm46YXdzOmlhbTo6MTIzNDU2Nzg5MDEyOnJvbGUvYnJpZGdlIn0.c2ln"

    def answer(self, request: RecordedRequest) -> Reply:
        form = parse_qs(request.body.decode("utf-8"))
        action = form.get("Action", [""])[0]
        if action != "GetWebIdentityToken":
            return Reply(400, f"<ErrorResponse><Error><Code>InvalidAction</Code><Message>{action}"
                         "</Message></Error></ErrorResponse>".encode(), "text/xml")  # fmt: skip
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        xml = (
            '<GetWebIdentityTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<GetWebIdentityTokenResult><WebIdentityToken>{self.token}</WebIdentityToken>"
            f"<Expiration>{expires.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration></GetWebIdentityTokenResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</GetWebIdentityTokenResponse>"
        )
        return Reply(200, xml.encode("utf-8"), "text/xml")


@dataclass
class _Token:
    value: str = field(default_factory=lambda: f"fake-entra-{uuid.uuid4().hex}")


class FakeEntra(LoopbackFake):
    """``POST /<tenant>/oauth2/v2.0/token``: a client-credentials grant with a JWT client assertion."""

    tls = True

    def answer(self, request: RecordedRequest) -> Reply:
        form = parse_qs(request.body.decode("utf-8"))
        if not urlsplit(request.path).path.endswith("/oauth2/v2.0/token") or not form.get("client_assertion"):
            return _json(400, {"error": "invalid_request", "error_description": f"unexpected {request.path}"})
        return _json(200, {"access_token": _Token().value, "expires_in": 3600, "token_type": "Bearer"})


class FakeManagedIdentity(LoopbackFake):
    """App Service's identity endpoint: ``GET ?resource=...&client_id=...`` with ``X-IDENTITY-HEADER``."""

    def __init__(self, header: str) -> None:
        super().__init__()
        self.header = header

    def answer(self, request: RecordedRequest) -> Reply:
        headers = {key.lower(): value for key, value in request.headers.items()}
        if headers.get("x-identity-header") != self.header:
            return _json(401, {"error": "missing or wrong X-IDENTITY-HEADER"})
        expires_on = int(dt.datetime.now(dt.UTC).timestamp()) + 3600
        resource = parse_qs(urlsplit(request.path).query).get("resource", [""])[0]
        return _json(
            200,
            {
                "access_token": _Token().value,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
            },
        )


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 (cert, key): a TLS fake's identity and its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "loopback-cert.pem", directory / "loopback-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
