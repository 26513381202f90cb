"""The return-exception flow over the coordinator's HTTP API, one reported step per stage.

Start the task, wait until it asks for exactly one approval (of ``createRefund``), approve it as the
caller, wait until it completes, and check that exactly one refund ran, under that approval. The same
driver runs against ``agentcage dev`` (no token; the development requester starts the task and the
development approver decides) and against the deployed Function App (an Entra access token; the
signed-in person is the task's requester and decides it, so they need an app role whose refund limit
covers the refund, e.g. ``service_rep``: above the requester's own limit the policy wants an approver
with a higher role, which the same person cannot be).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from agentcage.local.demo import RETURN_REQUEST
from agentcage.trace import trace_id_of
from infra.smoke.report import SmokeReport, StepFailedError
from infra.smoke.tokens import TokenSource, no_token

__all__ = ["FlowResult", "ReturnExceptionFlow", "REFUND_TOOL", "FINAL_STATES"]

REFUND_TOOL = "createRefund"
FINAL_STATES = frozenset({"completed", "halted", "failed"})
_AGENT = "returns-coordinator"
_SCENARIO = "return_exception"  # the scripted model plays it; a real model ignores the hint


@dataclass(frozen=True)
class FlowResult:
    """What the flow produced; ``ok`` only when every step of it passed."""

    ok: bool
    task_id: str | None = None
    trace_id: str | None = None
    approval_id: str | None = None


class ReturnExceptionFlow:
    """Drives the flow against ``base_url`` (``https://<app>.azurewebsites.net`` or the dev host)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: TokenSource = no_token,
        session: requests.Session | None = None,
        timeout_s: float = 300.0,
        interval_s: float = 2.0,
        request_timeout_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{base_url!r} is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session or requests.Session()
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self.request_timeout_s = request_timeout_s
        self.sleep = sleep
        self.clock = clock

    # --- the flow ---------------------------------------------------------------------------------
    def run(self, report: SmokeReport) -> FlowResult:
        """Run every step into ``report``, in order; stop at the first that fails."""
        state: dict[str, Any] = {}
        stages: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
            ("start the return-exception task", self._start),
            ("the refund waits for one approval", self._pending_approval),
            ("approve it", self._approve),
            ("the task completes", self._completed),
            ("exactly one refund ran, under the approval", self._one_refund),
        ]
        for name, stage in stages:
            with report.step(name) as step:
                step.detail = stage(state)
            if not report.steps[-1].ok:
                break
        else:
            return FlowResult(True, state["task_id"], state["trace_id"], state["approval_id"])
        return FlowResult(False, state.get("task_id"), state.get("trace_id"), state.get("approval_id"))

    def _start(self, state: dict[str, Any]) -> str:
        body = {"request": RETURN_REQUEST, "agent": _AGENT, "context": {"scenario": _SCENARIO}}
        started = self._call("POST", "/api/tasks", body, expect=202)
        state["task_id"] = _required(started, "task_id")
        state["trace_id"] = trace_id_of(started.get("traceparent"))
        if not state["trace_id"]:
            raise StepFailedError(f"the 202 carries no valid traceparent: {started.get('traceparent')!r}")
        return f"task {state['task_id']}, trace {state['trace_id']}"

    def _pending_approval(self, state: dict[str, Any]) -> str:
        task = self._wait(state["task_id"], lambda t: t.get("state") == "awaiting_approval")
        pending = task.get("pending_approvals") or []
        tools = [approval.get("tool") for approval in pending]
        if tools != [REFUND_TOOL]:
            raise StepFailedError(f"expected one pending {REFUND_TOOL} approval, found {tools}")
        state["approval_id"] = _required(pending[0], "approval_id")
        return f"approval {state['approval_id']} of {pending[0].get('arguments')}"

    def _approve(self, state: dict[str, Any]) -> str:
        body = {"decision": "approve", "comment": "agentcage smoke test"}
        decided = self._call("POST", f"/api/approvals/{state['approval_id']}", body, expect=200)
        approver = decided.get("approver") or {}
        return f"approved by {approver.get('name') or approver.get('id')}"

    def _completed(self, state: dict[str, Any]) -> str:
        task = self._wait(state["task_id"], lambda t: t.get("state") in FINAL_STATES)
        if task.get("state") != "completed":
            reason = task.get("halt_reason") or task.get("error")
            raise StepFailedError(f"the task ended {task.get('state')!r}: {reason}")
        if task.get("trace_id") != state["trace_id"]:
            raise StepFailedError(f"the task's trace id {task.get('trace_id')} is not the 202's")
        state["task"] = task
        return str(task.get("final_answer") or "")[:200]

    def _one_refund(self, state: dict[str, Any]) -> str:
        refunds = refund_calls(state["task"])
        ran = [call for call in refunds if (call.get("result") or {}).get("status") == "ok"]
        if len(ran) != 1 or ran[0].get("approval_id") != state["approval_id"]:
            raise StepFailedError(
                f"{len(ran)} refunds ran ({len(refunds)} asked); under approvals "
                f"{[call.get('approval_id') for call in ran]}, expected {state['approval_id']}"
            )
        return f"refund request {ran[0].get('request_id')}: {ran[0].get('arguments')}"

    def probe(self, path: str) -> tuple[int, str]:
        """``GET path``: the status and the error body's code (``0`` when the host cannot be reached)."""
        try:
            answer = self.session.get(
                f"{self.base_url}{path}", headers=self._headers(), timeout=self.request_timeout_s
            )
        except requests.RequestException as error:
            return 0, type(error).__name__
        try:
            problem = answer.json().get("error") or {}
        except (ValueError, AttributeError):
            problem = {}
        return answer.status_code, str(problem.get("code", "")) if isinstance(problem, dict) else ""

    # --- HTTP ---------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _call(self, method: str, path: str, body: Any = None, *, expect: int) -> dict[str, Any]:
        try:
            answer = self.session.request(
                method,
                f"{self.base_url}{path}",
                json=body,
                headers=self._headers(),
                timeout=self.request_timeout_s,
            )
        except requests.RequestException as error:
            raise StepFailedError(f"{method} {path}: cannot reach {self.base_url}: {error}") from None
        try:
            decoded = answer.json()
        except ValueError:
            decoded = None
        if answer.status_code != expect or not isinstance(decoded, dict):
            problem = decoded.get("error") if isinstance(decoded, dict) else None
            said = problem if isinstance(problem, dict) else answer.text[:300]
            raise StepFailedError(
                f"{method} {path} answered {answer.status_code} (expected {expect}): {said}"
            )
        return decoded

    def _wait(self, task_id: str, until: Callable[[Mapping[str, Any]], bool]) -> dict[str, Any]:
        """Poll the task until ``until`` holds; fail on a final state it did not ask for, or on timeout."""
        deadline = self.clock() + self.timeout_s
        while True:
            task = self._call("GET", f"/api/tasks/{task_id}", expect=200)
            if until(task):
                return task
            if task.get("state") in FINAL_STATES:
                reason = task.get("halt_reason") or task.get("error") or task.get("final_answer")
                raise StepFailedError(f"the task ended {task.get('state')!r} instead: {reason}")
            if self.clock() >= deadline:
                raise StepFailedError(f"the task is still {task.get('state')!r} after {self.timeout_s:.0f} s")
            self.sleep(self.interval_s)


def refund_calls(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every ``createRefund`` call in the task view's steps."""
    return [
        call
        for step in task.get("steps") or []
        for call in step.get("calls") or []
        if call.get("tool") == REFUND_TOOL
    ]


def _required(document: Mapping[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise StepFailedError(f"the answer has no {key}: {dict(document)}")
    return value
