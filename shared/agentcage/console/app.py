"""The console as one function of an HTTP request: ``Console.handle(ConsoleRequest) -> ConsoleResponse``.

No web framework and no host: the Function App's blueprint (``functions/azure/blueprints/
http_console.py``) and the local runtime (which serves that blueprint as the Function App would) both
turn their request into a :class:`ConsoleRequest` and write back the :class:`ConsoleResponse`.

Routes under the base path (``/api/console``: the Function App's HTTP routes all sit under its
``api`` route prefix)::

    GET  /                           pending approvals (the landing page)
    GET  /approvals/{id}             one approval (the Slack and Teams notices link here)
    POST /approvals/{id}/decision    decide it (JSON; sent by the page's script, see ``security``)
    GET  /tasks[?after=id]           the tasks the person may see
    GET  /tasks/{id}                 a task's page
    GET  /circuits                   each tool's circuit
    GET  /static/{console.css, console.js, favicon.svg}   the only assets, shipped in this package

Who is signed in comes from the host's principal function (the platform's authenticated principal);
what they may read, from the coordinator's need-to-know check; and a decision goes to the very route
``POST /api/approvals/{id}`` runs (``decide``), so the console re-implements none of the rules. A task
or approval the person may not read answers the same 404 as one that does not exist.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from agentcage.approvals import Principal
from agentcage.approvals.notice import CONSOLE_PATH, console_approval_url
from agentcage.console.pages import approval_page, approvals_page, circuits_page, error_page, tasks_page
from agentcage.console.security import check_same_origin, security_headers, site_origins
from agentcage.console.task_page import task_page
from agentcage.console.views import ConsoleViews, TaskAccess
from agentcage.errors import (
    AgentcageError,
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    MethodNotAllowedError,
    NotFoundError,
)
from agentcage.trace import extract_http, new_trace_id

if TYPE_CHECKING:
    from agentcage.coordinator import Coordinator, HttpAnswer

__all__ = [
    "CONSOLE_PATH",
    "Console",
    "ConsoleRequest",
    "ConsoleResponse",
    "DecideFunction",
    "PrincipalFunction",
    "console_approval_url",
]

_log = logging.getLogger("agentcage.console")

TASKS_PER_PAGE = 50
_MAX_DECISION_BYTES = 8 * 1024
_STATIC = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_HTML = "text/html; charset=utf-8"
_JSON = "application/json"

DecideFunction = Callable[[str, Mapping[str, str], bytes], "HttpAnswer"]
"""(approval id, request headers, JSON body) -> the answer of ``POST /api/approvals/{id}``."""
PrincipalFunction = Callable[[Mapping[str, str]], Principal]
"""Request headers -> the signed-in principal (AuthenticationError, 401, when there is none)."""


@dataclass(frozen=True, slots=True)
class ConsoleRequest:
    """One HTTP request: header names in lower case, ``path`` without the query string."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: str = ""
    body: bytes = b""

    @classmethod
    def of(cls, method: str, url_path: str, headers: Mapping[str, Any], body: bytes = b"") -> ConsoleRequest:
        """From a host's parts (any header-name case; a path that may carry its query string)."""
        path, _, query = url_path.partition("?")
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        return cls(method=method.upper(), path=path, headers=lowered, query=query, body=body)


@dataclass(frozen=True, slots=True)
class ConsoleResponse:
    """A status, headers and a body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


_ROUTES: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("approvals", re.compile(r"/?"), ("GET",)),
    ("approval", re.compile(r"/approvals/(?P<id>[^/]+)/?"), ("GET",)),
    ("decision", re.compile(r"/approvals/(?P<id>[^/]+)/decision"), ("POST",)),
    ("tasks", re.compile(r"/tasks/?"), ("GET",)),
    ("task", re.compile(r"/tasks/(?P<id>[^/]+)/?"), ("GET",)),
    ("circuits", re.compile(r"/circuits/?"), ("GET",)),
    ("static", re.compile(r"/static/(?P<id>[a-z.]+)"), ("GET",)),
)


class Console:
    """The approval console over a coordinator; see the module docstring for its routes."""

    def __init__(
        self,
        coordinator: Coordinator,
        *,
        access: TaskAccess,
        decide: DecideFunction,
        principal_of: PrincipalFunction,
        base_path: str = CONSOLE_PATH,
        origins: Collection[str] | None = None,
    ) -> None:
        """``origins``: where a decision may come from (default: :func:`site_origins` of the
        coordinator's public URL and the platform's host name)."""
        self.views = ConsoleViews(coordinator, access)
        self.origins = frozenset(
            origins if origins is not None else site_origins(coordinator.settings.public_base_url)
        )
        self.coordinator = coordinator
        self.decide = decide
        self.principal_of = principal_of
        self.base = base_path.rstrip("/")

    def handle(self, request: ConsoleRequest) -> ConsoleResponse:
        """Answer one request; never raises (an unexpected error is a logged 500 page)."""
        trace_id = _trace_id(request.headers)
        method = "GET" if request.method == "HEAD" else request.method
        principal: Principal | None = None
        try:
            route, parameter = self._route(method, request.path)
            if route == "static":
                return _static(parameter)
            principal = self.principal_of(request.headers)
            if route == "decision":
                return self._decision(request, parameter, principal, trace_id)
            return self._html(200, self._page(route, parameter, request, principal))
        except AgentcageError as error:
            if request.path.endswith("/decision"):
                return _json(
                    error.status,
                    {"ok": False, "code": error.code, "message": _message(error), "trace_id": trace_id},
                )
            return self._error(error, request, principal, trace_id)
        except Exception:  # noqa: BLE001 - a bug: a page saying so, and the log line with the trace id
            _log.exception("console request %s %s failed (trace %s)", request.method, request.path, trace_id)
            internal = AgentcageError("internal error; the trace id finds the log")
            return self._error(internal, request, principal, trace_id)

    # --- routing ----------------------------------------------------------------------------------
    def _route(self, method: str, path: str) -> tuple[str, str]:
        if path != self.base and not path.startswith(self.base + "/"):
            raise NotFoundError(f"{path[:200]} is not a console page")
        relative = path[len(self.base) :]
        for name, pattern, methods in _ROUTES:
            found = pattern.fullmatch(relative)
            if found is None:
                continue
            if method not in methods:
                raise MethodNotAllowedError(
                    f"{method[:16]} is not allowed here", details={"allow": list(methods)}
                )
            return name, unquote(found.groupdict().get("id") or "")
        raise NotFoundError("there is no such console page")

    def _page(self, route: str, parameter: str, request: ConsoleRequest, principal: Principal) -> bytes:
        now = self.coordinator.ledger.now()
        if route == "approvals":
            return approvals_page(self.views.pending_approvals(principal), principal, self.base, now)
        if route == "approval":
            return approval_page(self.views.approval(parameter, principal), principal, self.base, now)
        if route == "task":
            return task_page(self.views.task(parameter, principal), principal, self.base)
        if route == "circuits":
            return circuits_page(self.views.circuits(), principal, self.base)
        after = dict(parse_qsl(request.query)).get("after") or None
        found = self.views.tasks(principal, limit=TASKS_PER_PAGE + 1, after=after)
        shown = found[:TASKS_PER_PAGE]
        more = self.views.access.cursor(shown[-1]) if len(found) > TASKS_PER_PAGE else None
        return tasks_page([(t, self.views.budget(t)) for t in shown], principal, self.base, next_after=more)

    # --- deciding ---------------------------------------------------------------------------------
    def _decision(
        self, request: ConsoleRequest, approval_id: str, principal: Principal, trace_id: str
    ) -> ConsoleResponse:
        check_same_origin(request.headers, self.origins)
        decision, comment, digest = _decision_body(request.body)
        card = self.views.approval(approval_id, principal)  # 404 unless the person may read its task
        self.views.access.check_may_decide(card.task, principal)  # 403 for a reader who only reads
        if card.approval.args_digest != digest:
            raise ConflictError(
                "the approval's arguments are not the ones this page showed; reload it and decide again",
                details={"approval_id": approval_id},
            )
        body = json.dumps({"decision": decision, "comment": comment}).encode()
        answer = self.decide(approval_id, {**request.headers, "content-type": _JSON}, body)
        if answer.status >= 300:
            raw = answer.body.get("error")
            refused: dict[str, Any] = raw if isinstance(raw, dict) else {}
            message = str(refused.get("message") or "the decision was refused")
            body_out = {"ok": False, "code": refused.get("code"), "message": message, "trace_id": trace_id}
            return _json(answer.status, body_out)
        verb = "approved" if decision == "approve" else "denied"
        return _json(200, {"ok": True, "message": f"{verb} as {principal.name}", "trace_id": trace_id})

    # --- answers ----------------------------------------------------------------------------------
    def _html(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> ConsoleResponse:
        return ConsoleResponse(status, {"Content-Type": _HTML, **security_headers(), **(headers or {})}, body)

    def _error(
        self, error: AgentcageError, request: ConsoleRequest, principal: Principal | None, trace_id: str
    ) -> ConsoleResponse:
        headers: dict[str, str] = {}
        if isinstance(error, NotFoundError):
            # The same words whether it does not exist or the person may not see it.
            title, message = "Not found", "There is no such page here, or you may not see it."
        elif isinstance(error, AuthenticationError):
            title = "Sign in"
            message = f"{error.message}. Sign in at /.auth/login/aad, then come back to {request.path[:200]}."
            headers["WWW-Authenticate"] = 'Bearer realm="agentcage"'
        elif isinstance(error, MethodNotAllowedError):
            title, message = "Not allowed", error.message
            headers["Allow"] = ", ".join(error.details.get("allow", []))
        else:
            title, message = ("Refused" if error.status < 500 else "Something went wrong"), _message(error)
        body = error_page(
            error.status, title, message, base=self.base, principal=principal, trace_id=trace_id
        )
        return self._html(error.status, body, headers)


def _message(error: AgentcageError) -> str:
    if isinstance(error, NotFoundError):
        return "There is no such approval, or you may not see it."
    return error.message


def _decision_body(raw: bytes) -> tuple[str, str | None, str]:
    if len(raw) > _MAX_DECISION_BYTES:
        raise InvalidInputError(f"a decision is at most {_MAX_DECISION_BYTES} bytes")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInputError("the decision is not JSON") from None
    if not isinstance(body, dict) or body.get("decision") not in ("approve", "deny"):
        raise InvalidInputError('a decision is {"decision": "approve"|"deny", "comment"?, "args_digest"}')
    comment, digest = body.get("comment"), body.get("args_digest")
    if comment is not None and not isinstance(comment, str):
        raise InvalidInputError("the comment is text")
    if not isinstance(digest, str) or not digest:
        raise InvalidInputError("the decision names the arguments digest the page showed")
    return str(body["decision"]), (comment.strip() or None) if comment else None, digest


def _json(status: int, body: dict[str, Any]) -> ConsoleResponse:
    return ConsoleResponse(status, {"Content-Type": _JSON, **security_headers()}, json.dumps(body).encode())


def _static(name: str) -> ConsoleResponse:
    content_type = _STATIC.get(name)
    if content_type is None:
        raise NotFoundError("there is no such asset")
    body = resources.files("agentcage.console").joinpath("static", name).read_bytes()
    headers = {"Content-Type": content_type, **security_headers(), "Cache-Control": "public, max-age=300"}
    return ConsoleResponse(200, headers, body)


def _trace_id(headers: Mapping[str, str]) -> str:
    caller = extract_http(headers)
    return caller.trace_id if caller is not None else new_trace_id()
