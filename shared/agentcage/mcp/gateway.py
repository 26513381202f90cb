"""The MCP gateway: each agent's toolset as an MCP server at ``/api/mcp/{agent}``, over the coordinator.

One ASGI app serves every agent. A request is authenticated first (:mod:`agentcage.mcp.callers`; 401
with ``WWW-Authenticate: Bearer resource_metadata=...`` when there is no usable identity), then answered
by the ``mcp`` SDK's streamable-HTTP transport, stateless with JSON responses: one
``StreamableHTTPSessionManager`` per event loop (:mod:`agentcage.mcp.transport`), which keeps nothing a
later request needs (Functions scale out; any instance answers any request). The 2026-07-28 revision
(no handshake, one request per POST) and legacy clients (``initialize`` first) are both served on the
same endpoint. Only POST is served (GET and DELETE: 405, there is no stream or session), with a body
of at most the coordinator's own 64 KiB; every refusal, the SDK's included, is a JSON body.

``tools/call`` runs the coordinator's own lifecycle through :class:`~agentcage.coordinator.external.
ExternalCalls`, sends the ``ToolRequest`` with the runtime's own sender, and waits for the recorded
result up to ``wait_seconds``, reading the ledger; beyond that it answers ``pending``
(:mod:`agentcage.mcp.answers`). The lifecycle blocks (the ledger, the queues): on a loop many requests
share (uvicorn under ``agentcage dev``) it runs on a worker thread; where each request has a loop of its
own (the Function App's route, ``inline=True``) it runs on that loop, without the thread hop.

The task: the one the client names (``X-Agentcage-Conversation`` header, or ``agentcage/conversation``
in ``_meta``), else one per caller, agent and UTC day; its id is derived from the caller too, so a
client can never join another caller's task. The trace: the request's ``traceparent`` header, else
``traceparent`` in ``_meta``, continues into the call (and into the task's trace when it creates it).

The 2026-07-28 input-required mechanism is not used for approvals: it asks the *client* for input,
while the approver is a different person in the console; an ``approval_required`` tool result reads the
same on every client and revision, and the retry semantics make waiting safe.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import anyio
import anyio.to_thread
import mcp_types as types
import pydantic
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError

from agentcage.approvals import PrincipalSource
from agentcage.coordinator import Coordinator, Outbox
from agentcage.coordinator.external import ExternalCall
from agentcage.coordinator.http import MAX_BODY_BYTES
from agentcage.errors import AgentcageError, AuthenticationError, EnvelopeTooLargeError
from agentcage.mcp.answers import error_result, tool_result
from agentcage.mcp.callers import Caller, authenticate
from agentcage.mcp.settings import McpSettings
from agentcage.mcp.toolsets import listed_tools
from agentcage.mcp.transport import SessionManagers
from agentcage.trace import TraceContext, bound_context, continue_or_start

__all__ = [
    "CONVERSATION_HEADER",
    "CONVERSATION_META_KEY",
    "MCP_PATH",
    "METADATA_PATH",
    "Backend",
    "McpGateway",
]

_log = logging.getLogger("agentcage.mcp")

CONVERSATION_HEADER = "x-agentcage-conversation"
CONVERSATION_META_KEY = "agentcage/conversation"
METADATA_PATH = "/.well-known/oauth-protected-resource"
MCP_PATH = "/api/mcp"
"""Where the gateway is served: the Function App's ``mcp`` route under its ``api`` prefix, and the same
path under ``agentcage dev``."""
_AGENT = r"(?P<agent>[a-z][a-z0-9-]{1,62})"
# Matched against the whole path (fullmatch): the route's catch-all hands the gateway any path under
# /api/mcp, and a pattern anchored only at the end let /api/mcp/<anything>/mcp/<agent> serve <agent>.
_AGENT_PATH = re.compile(re.escape(MCP_PATH) + rf"/{_AGENT}/?")
_METADATA = re.compile(re.escape(MCP_PATH + METADATA_PATH) + rf"(?:/{_AGENT})?/?")
_POLL_FIRST_S, _POLL_MAX_S = 0.01, 0.25
_ANSWERED_BY_THE_SDK = (MCPError, pydantic.ValidationError)
"""Errors the SDK answers itself with their own JSON-RPC code (invalid params for arguments its
models refuse, such as nesting past their depth); anything else unexpected is an internal error."""


class Backend(Protocol):
    """What the gateway needs of the coordinator's runtime (``functions.azure.runtime.Runtime`` is one)."""

    coordinator: Coordinator

    @property
    def principals(self) -> PrincipalSource:
        """The deployment's one principal source (the API's and the console's too)."""
        ...

    def dispatch(self, outbox: Outbox) -> None:
        """Send the outbox's messages (raises TransportError when one is not accepted)."""
        ...


@dataclass(frozen=True, slots=True)
class _Request:
    """What the MCP handlers know of the HTTP request they serve."""

    caller: Caller
    headers: Mapping[str, str]


_REQUEST: contextvars.ContextVar[_Request] = contextvars.ContextVar("agentcage_mcp_request")


class McpGateway:
    """The ASGI app of the MCP front door; ``backend`` is resolved on first use (never at import)."""

    def __init__(
        self,
        backend: Callable[[], Backend],
        *,
        settings: McpSettings | None = None,
        principals: PrincipalSource | None = None,
        inline: bool = False,
    ) -> None:
        """``inline``: run the blocking lifecycle on the request's event loop, only where every request
        has a loop of its own (else it would hold up the loop's other requests)."""
        self._backend = backend
        self._settings = settings
        self._principals = principals
        self._inline = inline
        self._managers = SessionManagers(self._new_manager)
        self.server: Server[Any] = Server(
            "agentcage",
            version="1",
            instructions="Governed tools: every call passes the cage's policy, budget, circuits, approvals.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            # Validating a call's Mcp-Param-* headers reads the catalog, not a whole tools/list.
            get_tool_input_schema=self._input_schema,
        )

    @property
    def settings(self) -> McpSettings:
        """The gateway's settings (from the app settings unless given)."""
        if self._settings is None:
            self._settings = McpSettings.from_env()
        return self._settings

    @property
    def principals(self) -> PrincipalSource:
        """Where callers' identities come from: the runtime's own source unless one was given."""
        return self._principals if self._principals is not None else self._backend().principals

    # --- ASGI -------------------------------------------------------------------------------------
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            return
        path = str(scope.get("path") or "")
        headers = _headers(scope)
        metadata = _METADATA.fullmatch(path)
        if metadata is not None:
            await _send_json(send, 200, self._metadata(headers, metadata.group("agent")))
            return
        found = _AGENT_PATH.fullmatch(path)
        if found is None:
            await _send_json(send, 404, _error("not_found", f"no MCP server at {path[:200]}"))
            return
        agent = found.group("agent")
        try:
            caller = authenticate(headers, agent, self.principals, self.settings)
            self._backend().coordinator.gate.agent(agent)
        except AgentcageError as error:
            extra = {}
            if isinstance(error, AuthenticationError):
                url = self._metadata_url(headers, agent)
                extra["WWW-Authenticate"] = f'Bearer resource_metadata="{url}"'
            await _send_json(send, error.status, _error(error.code, error.message), extra)
            return
        bounded = await _bounded(scope, headers, receive, send)
        if bounded is None:
            return
        manager = await self._managers.current()
        token = _REQUEST.set(_Request(caller=caller, headers=headers))
        try:
            await manager.handle_request(scope, bounded, _structured_errors(send))
        finally:
            _REQUEST.reset(token)

    def _new_manager(self) -> StreamableHTTPSessionManager:
        # Stateless: no session, no event store, nothing kept between requests (see .transport).
        return StreamableHTTPSessionManager(
            self.server,
            json_response=True,
            stateless=True,
            security_settings=self._security(),
            max_request_body_size=MAX_BODY_BYTES,
        )

    def _security(self) -> TransportSecuritySettings | None:
        """DNS-rebinding protection where the caller is not authenticated by the platform (loopback)."""
        if not self.settings.local:
            return None
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )

    def _metadata_url(self, headers: Mapping[str, str], agent: str | None) -> str:
        suffix = f"/{agent}" if agent else ""
        return f"{self._base_url(headers)}{MCP_PATH}{METADATA_PATH}{suffix}"

    def _base_url(self, headers: Mapping[str, str]) -> str:
        if self.settings.public_base_url:
            return self.settings.public_base_url
        host = headers.get("x-forwarded-host") or headers.get("host") or "localhost"
        scheme = headers.get("x-forwarded-proto") or ("http" if self.settings.local else "https")
        return f"{scheme}://{host}"

    def _metadata(self, headers: Mapping[str, str], agent: str | None) -> dict[str, Any]:
        """RFC 9728 protected-resource metadata, as the MCP authorization spec asks."""
        resource = f"{self._base_url(headers)}{MCP_PATH}" + (f"/{agent}" if agent else "")
        document: dict[str, Any] = {
            "resource": resource,
            "authorization_servers": list(self.settings.authorization_servers),
            "bearer_methods_supported": ["header"],
            "resource_name": f"agentcage MCP gateway{f' ({agent})' if agent else ''}",
        }
        if self.settings.scopes:
            document["scopes_supported"] = list(self.settings.scopes)
        return document

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        tool = self._backend().coordinator.gate.catalog.get(name)
        return tool.args_schema if tool is not None else None

    # --- MCP handlers -----------------------------------------------------------------------------
    async def _list_tools(
        self,
        ctx: ServerRequestContext[Any],  # noqa: ARG002 - the SDK's handler shape
        params: types.PaginatedRequestParams | None,  # noqa: ARG002 - one page: a toolset is small
    ) -> types.ListToolsResult:
        request = _REQUEST.get()
        trace = continue_or_start(request.headers.get("traceparent"))
        try:
            coordinator = self._backend().coordinator
            tools = listed_tools(
                coordinator.gate,
                request.caller.agent_id,
                coordinator.settings.environment,
                request.caller.requester,
            )
        except _ANSWERED_BY_THE_SDK:
            raise
        except Exception as error:  # noqa: BLE001 - a bug: logged, and answered with its trace id
            raise _internal_error("tools/list", trace, error) from None
        return types.ListToolsResult(tools=tools)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        request = _REQUEST.get()
        meta = dict(ctx.meta or {})
        trace = continue_or_start(request.headers.get("traceparent") or _text(meta.get("traceparent")))
        client = _client_info(ctx, request.headers)
        task_id = self._task_id(request, meta)
        backend = self._backend()
        try:
            with bound_context(trace=trace, task_id=task_id, agent_id=request.caller.agent_id):
                outcome = await self._blocking(_propose, backend, request, task_id, params, trace, client)
                deadline = anyio.current_time() + self.settings.wait_seconds
                pause = _POLL_FIRST_S
                while outcome.status == "pending" and outcome.call is not None:
                    if anyio.current_time() + pause > deadline:
                        break
                    await anyio.sleep(pause)
                    pause = min(pause * 1.5, _POLL_MAX_S)
                    call = outcome.call
                    outcome = await self._blocking(
                        backend.coordinator.external.where, task_id, call.request_id
                    )
        except AgentcageError as error:
            _log.info("MCP call %s for %s refused: %s", params.name, task_id, error.message)
            return error_result(error, task_id=task_id)
        except _ANSWERED_BY_THE_SDK:
            raise
        except Exception as error:  # noqa: BLE001 - a bug: logged, and answered with its trace id
            raise _internal_error(f"tools/call {params.name[:100]}", trace, error) from None
        return tool_result(outcome)

    async def _blocking(self, work: Callable[..., ExternalCall], *args: Any) -> ExternalCall:
        """``work(*args)``: inline, or on a worker thread when the loop serves other requests too."""
        if self._inline:
            return work(*args)
        return await anyio.to_thread.run_sync(work, *args)

    def _task_id(self, request: _Request, meta: Mapping[str, Any]) -> str:
        """The caller's task: for the conversation the client names, else for today (UTC)."""
        conversation = request.headers.get(CONVERSATION_HEADER) or _text(meta.get(CONVERSATION_META_KEY))
        scope = (
            # The whole id is hashed (the body is bounded): ids that share a long prefix stay apart.
            f"conversation:{conversation}" if conversation else f"day:{dt.datetime.now(dt.UTC).date()}"
        )
        caller = request.caller
        digest = hashlib.sha256(f"{caller.principal.id}\n{caller.agent_id}\n{scope}".encode()).hexdigest()
        return f"mcp-{digest[:32]}"


def _propose(  # noqa: PLR0917 - the request's parts, bound once by its caller
    backend: Backend,
    request: _Request,
    task_id: str,
    params: types.CallToolRequestParams,
    trace: TraceContext,
    client: dict[str, Any],
) -> ExternalCall:
    """Open the task and propose the call (blocking: the ledger), then send what it asks to send."""
    external = backend.coordinator.external
    task = external.open_task(
        task_id,
        agent_id=request.caller.agent_id,
        requester=request.caller.requester,
        request=f"MCP calls of {request.caller.principal.name} via {client.get('name') or 'a client'}",
        traceparent=trace.traceparent,
    )
    outcome, outbox = external.propose(task, params.name, params.arguments or {}, trace=trace, client=client)
    if outbox and outcome.call is not None:
        backend.dispatch(outbox)
        # An executor that answers at once (in-process) has recorded the result already.
        return external.where(task_id, outcome.call.request_id)
    return outcome


def _internal_error(what: str, trace: TraceContext, error: Exception) -> MCPError:
    """The JSON-RPC internal error for an unexpected ``error``, logged with the trace id it carries.

    The SDK would answer a bare "Internal server error"; this one names the trace id (in the message,
    which every client shows, and in ``data``), so the caller can hand over what finds the log line.
    """
    with bound_context(trace=trace):
        _log.error("MCP %s failed (trace %s)", what, trace.trace_id, exc_info=error)
    return MCPError(
        code=types.INTERNAL_ERROR,
        message=f"internal error; the trace id {trace.trace_id} finds the log",
        data={"trace_id": trace.trace_id},
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _client_info(ctx: ServerRequestContext[Any], headers: Mapping[str, str]) -> dict[str, Any]:
    """The MCP client's name and version (a 2026-07-28 client sends them with every request; a legacy
    client only at ``initialize``, which a stateless server does not keep: its User-Agent then)."""
    params = getattr(ctx.session, "client_params", None)
    info = getattr(params, "client_info", None)
    if info is not None:
        return {
            "name": str(info.name)[:128],
            "version": str(info.version)[:64],
            "protocol": ctx.protocol_version,
        }
    return {
        "name": None,
        "user_agent": (headers.get("user-agent") or "")[:200],
        "protocol": ctx.protocol_version,
    }


def _headers(scope: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _bounded(scope: Mapping[str, Any], headers: Mapping[str, str], receive: Any, send: Any) -> Any:
    """The request's ``receive`` once its body is known to be at most ``MAX_BODY_BYTES`` (the
    coordinator's own bound), or ``None`` when it was answered 413 (or the client left).

    The body is read here so that an oversized one gets the project's structured error (the SDK's own
    limit answers in plain text); the SDK then receives it as it arrived.
    """
    if scope.get("method") != "POST":
        # Stateless: no server-initiated stream to GET (an open GET would hold an invocation until
        # the function times out) and no session to DELETE; the transport allows 405 for both.
        message = f"{str(scope.get('method'))[:16]} is not served here: send each request as a POST"
        await _send_json(send, 405, _error("method_not_allowed", message), {"Allow": "POST"})
        return None
    too_large = EnvelopeTooLargeError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        await _send_json(send, too_large.status, _error(too_large.code, too_large.message))
        return None
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None  # the client went away before it finished sending: nobody to answer
        body.extend(message.get("body") or b"")
        if len(body) > MAX_BODY_BYTES:
            await _send_json(send, too_large.status, _error(too_large.code, too_large.message))
            return None
        if not message.get("more_body"):
            break
    pending = [{"type": "http.request", "body": bytes(body), "more_body": False}]

    async def replayed() -> Any:
        return pending.pop() if pending else await receive()

    return replayed


def _structured_errors(send: Any) -> Callable[[Any], Any]:
    """``send``, with the SDK's plain-text HTTP errors (406, 400 for a content type, 421 for a host)
    rewritten as the project's JSON error body; JSON-RPC answers pass through untouched."""
    held: dict[str, Any] = {}

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            names = {bytes(k).lower(): bytes(v) for k, v in message.get("headers") or ()}
            if not names.get(b"content-type", b"").startswith(b"application/json"):
                held["start"] = message
                return
        if message["type"] == "http.response.body" and "start" in held and not message.get("more_body"):
            start = held.pop("start")
            status = int(start["status"])
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:  # a status the standard library does not name
                phrase = "error"
            text = bytes(message.get("body") or b"").decode("utf-8", "replace").strip()[:500] or phrase
            keep = {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in start.get("headers") or ()
                if k.lower() not in (b"content-type", b"content-length")
            }
            code = phrase.lower().replace(" ", "_").replace("-", "_")
            await _send_json(send, status, _error(code, text), keep)
            return
        await send(message)

    return sending


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


async def _send_json(
    send: Any, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> None:
    raw = json.dumps(body, separators=(",", ":")).encode()
    pairs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    pairs.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": raw})
