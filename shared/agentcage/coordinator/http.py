"""The coordinator's HTTP API without a web framework: Azure Functions and the local runtime both call it.

Routes (under ``/api``): ``POST tasks``, ``GET tasks`` (the caller's, paged), ``GET tasks/{task_id}``,
``GET|POST approvals/{approval_id}``. Every error answers ``{"error": {"code", "message", "trace_id"}}``
(plus ``details`` when there are any) with the status of its :mod:`agentcage.errors` class: 400
malformed JSON, schema or paging, 401 no (trusted) principal, 403 may read but not decide, 404 unknown
id -- or one the caller may not see, 405 wrong method, 409 (also: an approval recorded whose call was
not sent), 410, 413 body too large, 415 not JSON. Bad input never answers 500. The caller's
``traceparent`` is continued and returned on every answer.

Every route first asks :class:`~agentcage.approvals.PrincipalSource` who is calling (the platform's
principal, verified to be the platform's; locally the development principals on loopback). A task is
created on behalf of that principal (its requester, recorded in the ledger); reading and deciding
follow :mod:`agentcage.coordinator.access` (need-to-know: others get the same 404 as for an unknown
id). An answer acting for a development principal says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentcage.approvals import Principal, PrincipalSource
from agentcage.approvals.principal import header_value
from agentcage.coordinator.access import MAX_PAGE, requester_of
from agentcage.coordinator.messages import Outbox, StartTask
from agentcage.coordinator.service import Coordinator
from agentcage.coordinator.views import task_summary
from agentcage.errors import (
    AgentcageError,
    ApprovalExpiredError,
    ApprovalNotFoundError,
    AuthenticationError,
    EnvelopeTooLargeError,
    InvalidInputError,
    MethodNotAllowedError,
    TaskNotFoundError,
    TransportError,
    UnsupportedMediaTypeError,
)
from agentcage.trace import TraceContext, bound_context, continue_or_start, extract_http

__all__ = ["DEFAULT_PAGE", "MAX_BODY_BYTES", "CoordinatorHttp", "Decision", "HttpAnswer"]

_log = logging.getLogger("agentcage.coordinator.http")

MAX_BODY_BYTES = 64 * 1024
"""The largest request body accepted (413 above it)."""
DEFAULT_PAGE = 50
"""Tasks per page of ``GET /api/tasks`` unless ``limit`` says otherwise."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A status, a JSON body and headers; the adapter turns it into its framework's response."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """The body as JSON text."""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))


class Decision(BaseModel):
    """The body of ``POST /api/approvals/{id}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: Literal["approve", "deny"]
    comment: str | None = Field(default=None, max_length=2000)


class CoordinatorHttp:
    """The HTTP routes over a :class:`Coordinator`; ``send`` delivers what each operation returns.

    ``principals`` says who is calling: the deployment's one source, which its runtime builds once and
    hands to the console and the MCP gateway too (a page, its decision and an MCP call name one person).
    """

    def __init__(
        self,
        coordinator: Coordinator,
        send: Callable[[Outbox], None],
        *,
        principals: PrincipalSource,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.coordinator = coordinator
        self.send = send
        self.max_body_bytes = max_body_bytes
        self.principals = principals

    # --- routes -----------------------------------------------------------------------------------
    def tasks(
        self,
        method: str,
        headers: Mapping[str, Any],
        body: bytes,
        query: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        """``POST /api/tasks`` -> 202 ``{task_id, status_url, traceparent}``; ``GET`` lists the caller's
        tasks (an auditor's: all), newest first, ``limit`` at a time after the opaque ``cursor``."""

        def run(trace: TraceContext) -> HttpAnswer:
            self._allow(method, "GET", "POST")
            if method.upper() == "GET":
                return self._list_tasks(headers, query or {})
            return self._create_task(headers, body, trace)

        return self._answer(headers, run)

    def task(self, method: str, task_id: str, headers: Mapping[str, Any]) -> HttpAnswer:
        """``GET /api/tasks/{task_id}`` -> 200 with the task's view (404 unless the caller may see it)."""

        def run(_: TraceContext) -> HttpAnswer:
            self._allow(method, "GET")
            principal = self.principals.reader(headers)
            self.coordinator.access.readable_task(task_id, principal)
            return HttpAnswer(200, _noted(self.coordinator.task_view(task_id), principal))

        return self._answer(headers, run)

    def approval(self, method: str, approval_id: str, headers: Mapping[str, Any], body: bytes) -> HttpAnswer:
        """``GET /api/approvals/{id}`` shows it; ``POST`` decides it (404 unless the caller may see it)."""

        def run(_: TraceContext) -> HttpAnswer:
            self._allow(method, "GET", "POST")
            if method.upper() == "GET":
                principal = self.principals.reader(headers)
                self._readable_approval(approval_id, principal)
                return HttpAnswer(200, _noted(self.coordinator.approval_view(approval_id), principal))
            return self._decide(approval_id, headers, body)

        return self._answer(headers, run)

    # --- the work ---------------------------------------------------------------------------------
    def _create_task(self, headers: Mapping[str, Any], body: bytes, trace: TraceContext) -> HttpAnswer:
        principal = self.principals.requester(headers)
        start = self._parse(StartTask, headers, body)
        started = self.coordinator.start_task(
            start,
            traceparent=trace.traceparent,
            tracestate=trace.tracestate,
            requester=requester_of(principal),
        )
        self.send(Outbox().add_step(started.task, started.step))
        task = started.task
        body_out: dict[str, Any] = {
            "task_id": task.task_id,
            "status_url": f"{self.coordinator.settings.public_base_url}/api/tasks/{task.task_id}",
            "traceparent": task.traceparent,
            "state": task.state.value,
            "requester": {"kind": principal.kind, "id": principal.id, "roles": list(principal.roles)},
        }
        return HttpAnswer(202, _noted(body_out, principal), {"Location": str(body_out["status_url"])})

    def _list_tasks(self, headers: Mapping[str, Any], query: Mapping[str, str]) -> HttpAnswer:
        principal = self.principals.reader(headers)
        raw_limit = (query.get("limit") or "").strip()
        if raw_limit and not raw_limit.isdigit():
            raise InvalidInputError(f"limit must be a whole number from 1 to {MAX_PAGE}")
        limit = int(raw_limit) if raw_limit else DEFAULT_PAGE
        access = self.coordinator.access
        page = access.tasks_for(principal, limit=limit, after=query.get("cursor") or None)
        next_cursor = access.cursor(page[-1]) if len(page) == limit else None
        answer = {"tasks": [task_summary(task) for task in page], "next_cursor": next_cursor}
        return HttpAnswer(200, _noted(answer, principal))

    def _readable_approval(self, approval_id: str, principal: Principal) -> str:
        """The approval's task id, when ``principal`` may see it; the same 404 as for none otherwise."""
        approval = self.coordinator.ledger.get_approval(approval_id)
        try:
            task = self.coordinator.access.readable_task(approval.task_id, principal)
        except TaskNotFoundError:
            raise ApprovalNotFoundError(f"no approval {approval_id!r}") from None
        return task.task_id

    def _decide(self, approval_id: str, headers: Mapping[str, Any], body: bytes) -> HttpAnswer:
        principal = self.principals.person(headers)
        task_id = self._readable_approval(approval_id, principal)
        self.coordinator.access.check_may_decide(self.coordinator.task(task_id), principal)
        decision = self._parse(Decision, headers, body)
        try:
            outbox = self.coordinator.decide_approval(
                approval_id,
                approve=decision.decision == "approve",
                principal=principal,
                comment=decision.comment,
            )
        except ApprovalExpiredError:
            self.send(self.coordinator.expire_approval(approval_id))  # the task moves on without it
            raise
        try:
            self.send(outbox)
        except TransportError as error:  # recorded, not sent: the same decision again re-sends it
            raise TransportError(
                f"the decision is recorded but what it sends was not accepted ({error.message}); "
                "POST the same decision again to send it",
                details={"approval_id": approval_id, "decision": decision.decision},
            ) from error
        if decision.decision == "approve":  # an approval that sends nothing is not a success
            not_sent = self.coordinator.approval_not_sent(approval_id)
            if not_sent is not None:
                raise not_sent
        answer: dict[str, Any] = {
            "approval": self.coordinator.approval_view(approval_id),
            "approver": {"id": principal.id, "name": principal.name, "roles": list(principal.roles)},
        }
        if principal.development:
            answer["approver"]["development"] = True
        return HttpAnswer(200, _noted(answer, principal))

    # --- plumbing ---------------------------------------------------------------------------------
    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method.upper() not in allowed:
            raise MethodNotAllowedError(
                f"{method.upper()[:16]} is not allowed here", details={"allow": list(allowed)}
            )

    def _parse(self, model: type[StartTask] | type[Decision], headers: Mapping[str, Any], body: bytes) -> Any:
        if len(body) > self.max_body_bytes:
            raise EnvelopeTooLargeError(
                f"the body is {len(body)} bytes; at most {self.max_body_bytes} are accepted",
                details={"size": len(body), "limit": self.max_body_bytes},
            )
        content_type = (header_value(headers, "content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise UnsupportedMediaTypeError(
                f"send the body as application/json (Content-Type: application/json), "
                f"not {content_type[:100] or 'without a Content-Type'}",
                details={"expected": "application/json", "received": content_type[:100] or None},
            )
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise InvalidInputError(f"the body is not JSON: {str(error)[:200]}") from None
        if not isinstance(data, dict):
            raise InvalidInputError("the body must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            problems = [
                {"loc": ".".join(str(p) for p in e["loc"]) or "$", "msg": e["msg"]}
                for e in error.errors(include_url=False, include_input=False)
            ]
            raise InvalidInputError(
                f"invalid {model.__name__} body", details={"problems": problems}
            ) from None

    def _answer(self, headers: Mapping[str, Any], run: Callable[[TraceContext], HttpAnswer]) -> HttpAnswer:
        trace = continue_or_start(None)
        try:
            caller = extract_http(headers)
            trace = caller.child() if caller is not None else trace
            with bound_context(trace=trace):
                answer = run(trace)
        except AgentcageError as error:
            answer = self._error(error, trace)
        except Exception:  # noqa: BLE001 - a bug, never bad input: answered and logged, the host lives on
            _log.exception("unexpected error answering a request (trace %s)", trace.trace_id)
            answer = self._error(AgentcageError("internal error; the trace id finds the log"), trace)
        return HttpAnswer(answer.status, answer.body, {**answer.headers, "traceparent": trace.traceparent})

    @staticmethod
    def _error(error: AgentcageError, trace: TraceContext) -> HttpAnswer:
        body: dict[str, Any] = {"code": error.code, "message": error.message, "trace_id": trace.trace_id}
        if error.details:
            body["details"] = json.loads(json.dumps(error.details, default=str))
        headers: dict[str, str] = {}
        if isinstance(error, MethodNotAllowedError):
            headers["Allow"] = ", ".join(error.details.get("allow", []))
        if isinstance(error, AuthenticationError):
            headers["WWW-Authenticate"] = 'Bearer realm="agentcage"'
        if error.status >= 500:
            _log.warning(
                "answered %s %s (trace %s): %s", error.status, error.code, trace.trace_id, error.message
            )
        return HttpAnswer(error.status, {"error": body}, headers)


def _noted(body: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """``body``, saying so when a development principal (not a signed-in person) is acting."""
    if principal.development:
        return {
            **body,
            "note": f"local runtime: acting as the development principal {principal.id!r}, "
            "not a signed-in person",
        }
    return body
