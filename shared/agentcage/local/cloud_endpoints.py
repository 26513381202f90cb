"""Loopback endpoints the artifact workers' own cloud clients are pointed at, by their own settings.

One HTTP server on 127.0.0.1, one path prefix per service, each speaking the wire protocol the
functions' real clients speak, so that no function code is replaced:

- ``/sqs``: SQS ``SendMessage`` (boto3's JSON protocol; ``AWS_ENDPOINT_URL_SQS``), into the durable
  broker, with ``SenderId`` the role session the signing key belongs to (as SQS reports it);
- ``/sts``: ``AssumeRoleWithWebIdentity`` (the query protocol; ``AWS_ENDPOINT_URL_STS``), issuing
  placeholder keys that remember the session name (:class:`~agentcage.local.bridges.LocalStsClient`);
- ``/msi/token``: the App Service managed identity endpoint (``IDENTITY_ENDPOINT`` /
  ``IDENTITY_HEADER``, what azure-identity's ``ManagedIdentityCredential`` calls on Azure Functions);
- ``/servicebus/<queue>/messages``: Service Bus's HTTP send (``BrokerProperties`` and custom
  properties as headers), into the broker;
- ``/api/<stage>/...``: the REST API Gateway (``AGENTCAGE_API_BASE_URL``), handed to ``api``.

Signatures and tokens are not verified: these endpoints serve only the loopback interface and the
local host's own workers, and the placeholders are no secrets. Every request must still be addressed
to ``127.0.0.1``, ``localhost`` or ``[::1]`` with this server's own port (the workers use
:attr:`LocalCloudEndpoints.url`); any other ``Host`` is a structured 421 before any route runs
(:class:`~agentcage.local.asgi.AllowedHosts`). Without it a DNS-rebinding page that found the port
could reach it from a browser on this machine as a same-origin request and issue a refund outside
the cage (``/api``), take keys from ``/sts`` or put messages on the queues.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.exceptions import ClientError

from agentcage.errors import TransportError
from agentcage.local.asgi import AllowedHosts
from agentcage.local.bridges import BrokerServiceBusSender, LocalSqsClient, LocalStsClient
from agentcage.local.broker import DurableBroker

__all__ = ["ApiHandler", "ApiRequest", "HttpAnswer", "LocalCloudEndpoints", "access_key_of"]

_log = logging.getLogger("agentcage.local.endpoints")

HttpAnswer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """A request to the API Gateway stage: ``path`` is below the stage; ``caller`` its signing key id."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    caller: str | None


ApiHandler = Callable[[ApiRequest], HttpAnswer]

_MAX_BODY_BYTES = 8 * 1024 * 1024
_STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
_NOT_PROPERTIES = frozenset(
    {"brokerproperties", "content-type", "content-length", "host", "authorization", "accept",
     "accept-encoding", "connection", "user-agent"}
)  # fmt: skip


def access_key_of(headers: Mapping[str, str]) -> str | None:
    """The access key id in a SigV4 ``Authorization`` header (``Credential=<key>/<date>/...``)."""
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    _, found, rest = authorization.partition("Credential=")
    return rest.split("/", 1)[0] if found else None


def _json(status: int, body: Any, content_type: str = "application/json") -> HttpAnswer:
    return status, {"Content-Type": content_type}, json.dumps(body).encode()


class LocalCloudEndpoints:
    """The loopback endpoints; ``broker`` is read when a message arrives (it opens after the server)."""

    def __init__(
        self,
        broker: Callable[[], DurableBroker | None],
        api: ApiHandler,
        *,
        lambda_senders: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._broker = broker
        self._api = api
        self.lambda_senders = dict(lambda_senders or {})  # access key id -> SenderId of a Lambda role
        self.identity_header = uuid.uuid4().hex  # azure-identity sends it back; a per-run nonce
        self._sessions: dict[str, str] = {}
        self._lock = threading.Lock()
        self._sts = LocalStsClient(self._sessions, self._lock)
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        # Only the loopback names with this port (and the URL the workers are given): DNS rebinding.
        self.allowed_hosts = AllowedHosts.loopback(self._server.server_address[1], self.url)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def settings(self, stage: str = "local") -> dict[str, str]:
        """The settings that point the functions' clients here."""
        return {
            "AWS_ENDPOINT_URL_SQS": f"{self.url}/sqs",
            "AWS_ENDPOINT_URL_STS": f"{self.url}/sts",
            "IDENTITY_ENDPOINT": f"{self.url}/msi/token",
            "IDENTITY_HEADER": self.identity_header,
            "AGENTCAGE_API_BASE_URL": f"{self.url}/api/{stage}",
            "AGENTCAGE_LOCAL_SERVICEBUS_ENDPOINT": f"{self.url}/servicebus",
        }

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-endpoints", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    # --- routing ----------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> HttpAnswer:
        """Answer one request (a 421 when it is addressed to another ``Host`` than this server)."""
        refused = self.allowed_hosts.refusal({k.lower(): v for k, v in headers.items()})
        if refused is not None:
            return refused
        parts = urlsplit(raw_path)
        path = parts.path
        routes: tuple[tuple[str, str, Callable[[], HttpAnswer]], ...] = (
            ("POST", "/sqs", lambda: self._sqs(headers, body)),
            ("POST", "/sts", lambda: self._sts_call(body)),
            ("GET", "/msi/token", lambda: self._token(headers, dict(parse_qsl(parts.query)))),
            ("POST", "/servicebus/", lambda: self._servicebus(path, headers, body)),
        )
        try:
            for route_method, prefix, answer in routes:
                if method == route_method and path.startswith(prefix):
                    return answer()
            if path.startswith("/api/"):
                stage_path = "/" + path[len("/api/") :].partition("/")[2]
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                return self._api(
                    ApiRequest(method, unquote(stage_path), query, headers, body, access_key_of(headers))
                )
        except Exception as error:  # noqa: BLE001 - a failure here is the service's 500, never a hang
            _log.exception("local endpoint %s %s failed", method, path)
            return _json(500, {"error": {"code": "internal_error", "message": str(error)}})
        return _json(404, {"error": {"code": "not_found", "message": f"no local endpoint serves {path}"}})

    def _require_broker(self) -> DurableBroker:
        broker = self._broker()
        if broker is None:
            raise TransportError("the local queues are not open")
        return broker

    def _sender_id(self, access_key: str | None) -> str:
        with self._lock:
            session = self._sessions.get(access_key or "")
        if session is not None:
            return f"{LocalStsClient.ROLE_ID}:{session}"
        return self.lambda_senders.get(access_key or "", f"{LocalStsClient.ROLE_ID}:local")

    def _sqs(self, headers: dict[str, str], body: bytes) -> HttpAnswer:
        target = next((v for k, v in headers.items() if k.lower() == "x-amz-target"), "")
        if target != "AmazonSQS.SendMessage":
            return self._sqs_error(400, "InvalidAction", f"the local SQS serves SendMessage, not {target!r}")
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self._sqs_error(400, "MalformedInput", "the body is not JSON")
        client = LocalSqsClient(self._require_broker(), sender_id=self._sender_id(access_key_of(headers)))
        try:
            answer = client.send_message(
                QueueUrl=str(request.get("QueueUrl", "")),
                MessageBody=str(request.get("MessageBody", "")),
                MessageAttributes=request.get("MessageAttributes"),
                MessageSystemAttributes=request.get("MessageSystemAttributes"),
            )
        except ClientError as error:
            details = error.response.get("Error", {})
            return self._sqs_error(400, str(details.get("Code")), str(details.get("Message")))
        return _json(200, answer, "application/x-amz-json-1.0")

    @staticmethod
    def _sqs_error(status: int, code: str, message: str) -> HttpAnswer:
        answer = _json(status, {"__type": f"com.amazonaws.sqs#{code}", "message": message})
        return answer[0], {**answer[1], "x-amzn-query-error": f"{code};Sender"}, answer[2]

    def _sts_call(self, body: bytes) -> HttpAnswer:
        form = dict(parse_qsl(body.decode("utf-8")))
        if form.get("Action") != "AssumeRoleWithWebIdentity":
            return self._sts_error(
                "InvalidAction", f"the local STS serves AssumeRoleWithWebIdentity, not {form.get('Action')!r}"
            )
        try:
            answer = self._sts.assume_role_with_web_identity(
                RoleArn=form.get("RoleArn", ""),
                RoleSessionName=form.get("RoleSessionName", ""),
                WebIdentityToken=form.get("WebIdentityToken", ""),
                DurationSeconds=int(form.get("DurationSeconds") or 3600),
            )
        except ClientError as error:
            details = error.response.get("Error", {})
            return self._sts_error(str(details.get("Code")), str(details.get("Message")))
        credentials, user = answer["Credentials"], answer["AssumedRoleUser"]
        expiration = credentials["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ")
        xml = (
            f'<AssumeRoleWithWebIdentityResponse xmlns="{_STS_NAMESPACE}"><AssumeRoleWithWebIdentityResult>'
            f"<Credentials><AccessKeyId>{escape(credentials['AccessKeyId'])}</AccessKeyId>"
            f"<SecretAccessKey>{escape(credentials['SecretAccessKey'])}</SecretAccessKey>"
            f"<SessionToken>{escape(credentials['SessionToken'])}</SessionToken>"
            f"<Expiration>{expiration}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>{escape(user['AssumedRoleId'])}</AssumedRoleId>"
            f"<Arn>{escape(user['Arn'])}</Arn></AssumedRoleUser>"
            "<SubjectFromWebIdentityToken>local</SubjectFromWebIdentityToken>"
            "</AssumeRoleWithWebIdentityResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</AssumeRoleWithWebIdentityResponse>"
        )
        return 200, {"Content-Type": "text/xml"}, xml.encode()

    @staticmethod
    def _sts_error(code: str, message: str) -> HttpAnswer:
        xml = (
            f'<ErrorResponse xmlns="{_STS_NAMESPACE}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )
        return 400, {"Content-Type": "text/xml"}, xml.encode()

    def _token(self, headers: dict[str, str], query: dict[str, str]) -> HttpAnswer:
        sent = next((v for k, v in headers.items() if k.lower() == "x-identity-header"), None)
        if sent != self.identity_header:
            return _json(401, {"error": "unauthorized", "message": "X-IDENTITY-HEADER does not match"})
        expires_on = int(time.time()) + 3600
        return _json(
            200,
            {
                "access_token": "local-placeholder-not-a-credential",
                "expires_on": str(expires_on),
                "expires_in": "3600",
                "resource": query.get("resource", ""),
                "token_type": "Bearer",
                "client_id": "00000000-0000-0000-0000-000000000000",
            },
        )

    def _servicebus(self, path: str, headers: dict[str, str], body: bytes) -> HttpAnswer:
        queue, _, tail = path[len("/servicebus/") :].partition("/")
        if tail != "messages" or not queue:
            return _json(404, {"error": {"code": "not_found", "message": f"no Service Bus entity at {path}"}})
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            broker_properties = json.loads(lowered.get("brokerproperties") or "{}")
        except ValueError:
            return _json(400, {"error": {"code": "invalid_input", "message": "BrokerProperties is not JSON"}})
        properties = {
            name: _property(value) for name, value in headers.items() if name.lower() not in _NOT_PROPERTIES
        }
        message_id = str(broker_properties.get("MessageId") or uuid.uuid4())
        try:
            BrokerServiceBusSender(self._require_broker()).send(
                unquote(queue), body.decode("utf-8"), properties, message_id
            )
        except TransportError as error:
            return _json(404, {"error": {"code": "not_found", "message": error.message}})
        return 201, {"Content-Type": "application/json", "Date": datetime.now(UTC).isoformat()}, b""

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                refused = server.allowed_hosts.refusal({k.lower(): v for k, v in self.headers.items()})
                if refused is not None:
                    # Refused before the body is read: the connection closes after this answer.
                    status, headers, payload = refused
                    self.close_connection = True
                elif length > _MAX_BODY_BYTES:
                    status, headers, payload = _json(
                        413, {"error": {"code": "too_large", "message": "too large"}}
                    )
                    self.close_connection = True
                else:
                    body = self.rfile.read(length) if length > 0 else b""
                    status, headers, payload = server.handle(
                        self.command, self.path, dict(self.headers.items()), body
                    )
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815 - the stdlib's names

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                _log.debug("%s %s", self.address_string(), format % args)

        return Handler


def _property(value: str) -> Any:
    """A custom property header's value: JSON when it is (Service Bus quotes strings), else the text."""
    try:
        return json.loads(value)
    except ValueError:
        return value
