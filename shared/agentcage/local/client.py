"""A small HTTP client for the coordinator's API (``agentcage dev``, or a deployed Function App).

Standard library only (``urllib``): the CLI and the demo need a few calls and no connection pooling.
An error answer becomes :class:`ApiError` carrying the structured body's code and message. The
``local_*`` calls use the local host's own read-only routes (``/_agentcage/...``), which only
``agentcage dev`` serves; :func:`host_url_for` finds the URL a running host recorded in its state
directory.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentcage.approvals.principal import DEV_PRINCIPAL_HEADER
from agentcage.errors import AgentcageError, TransportError

__all__ = ["DEFAULT_URL", "FINAL_STATES", "HOST_INFO_FILE", "AgentcageClient", "ApiError", "host_url_for"]

HOST_INFO_FILE = "host.json"
"""The file in a state directory where a running host records its URL (LocalConfig.host_info_path)."""

DEFAULT_URL = "http://127.0.0.1:7071"
FINAL_STATES = frozenset({"completed", "halted", "failed"})


class ApiError(AgentcageError):
    """The API answered an error; ``status`` and ``code`` are the answer's."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"HTTP {status} {code}: {message}", details={"status": status, "code": code})
        self.http_status = status
        self.error_code = code
        self.api_message = message
        self.body = body


class AgentcageClient:
    """Calls the coordinator's HTTP API at ``base_url``."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
        principal: str | None = None,
    ) -> None:
        """``principal`` names the development principal to act as (``agentcage dev`` on loopback
        only; :data:`~agentcage.approvals.DEV_PRINCIPAL_HEADER`): by default the development requester
        creates and reads, and the development approver decides."""
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        if principal:
            self.headers[DEV_PRINCIPAL_HEADER] = principal

    def request(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        """Send one request; returns the decoded JSON answer (ApiError for 4xx/5xx)."""
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Accept": "application/json", **self.headers, **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        url = f"{self.base_url}{path}"
        if not url.startswith(("http://", "https://")):
            raise TransportError(f"{self.base_url!r} is not an http(s) URL")
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)  # noqa: S310 - checked above
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - checked above
                raw = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            decoded = _decode(raw)
            problem = decoded.get("error", {}) if isinstance(decoded, dict) else {}
            raise ApiError(
                error.code,
                str(problem.get("code", f"http_{error.code}")),
                str(problem.get("message", raw[:200].decode("utf-8", "replace"))),
                decoded,
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise TransportError(f"cannot reach {self.base_url}: {reason}") from None
        return _decode(raw)

    # --- the API ----------------------------------------------------------------------------------
    def start_task(
        self,
        request: str,
        *,
        agent: str | None = None,
        budget: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        traceparent: str | None = None,
    ) -> dict[str, Any]:
        """``POST /api/tasks``: returns ``{task_id, status_url, traceparent}``."""
        body: dict[str, Any] = {"request": request}
        if agent:
            body["agent"] = agent
        if budget:
            body["budget"] = dict(budget)
        if context:
            body["context"] = dict(context)
        headers = {"traceparent": traceparent} if traceparent else None
        answer: dict[str, Any] = self.request("POST", "/api/tasks", body, headers)
        return answer

    def get_task(self, task_id: str) -> dict[str, Any]:
        """``GET /api/tasks/{id}``."""
        answer: dict[str, Any] = self.request("GET", f"/api/tasks/{_segment(task_id)}")
        return answer

    def get_approval(self, approval_id: str) -> dict[str, Any]:
        """``GET /api/approvals/{id}``."""
        answer: dict[str, Any] = self.request("GET", f"/api/approvals/{_segment(approval_id)}")
        return answer

    def decide(self, approval_id: str, decision: str, comment: str | None = None) -> dict[str, Any]:
        """``POST /api/approvals/{id}`` with ``approve`` or ``deny``."""
        body: dict[str, Any] = {"decision": decision}
        if comment:
            body["comment"] = comment
        answer: dict[str, Any] = self.request("POST", f"/api/approvals/{_segment(approval_id)}", body)
        return answer

    def list_tasks(self, *, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        """``GET /api/tasks``: the caller's tasks (an auditor's: all), newest first, and ``next_cursor``."""
        query = urllib.parse.urlencode({"limit": limit, **({"cursor": cursor} if cursor else {})})
        answer: dict[str, Any] = self.request("GET", f"/api/tasks?{query}")
        return answer

    def local_tasks(self, *, limit: int = 20, state: str | None = None) -> list[dict[str, Any]]:
        """The newest tasks as the ledger keeps them (local host only: ``GET /_agentcage/tasks``)."""
        query = urllib.parse.urlencode({"limit": limit, **({"state": state} if state else {})})
        answer: list[dict[str, Any]] = self.request("GET", f"/_agentcage/tasks?{query}")
        return answer

    def local_trace(self, task_id: str) -> dict[str, Any]:
        """A task's state and timeline (local host only: ``GET /_agentcage/tasks/{id}/timeline``)."""
        answer: dict[str, Any] = self.request("GET", f"/_agentcage/tasks/{_segment(task_id)}/timeline")
        return answer

    def health(self) -> dict[str, Any]:
        """The local host's health document (only ``agentcage dev`` serves it)."""
        answer: dict[str, Any] = self.request("GET", "/_agentcage/health")
        return answer

    def wait_for(
        self,
        task_id: str,
        until: Callable[[dict[str, Any]], bool],
        *,
        timeout_s: float = 30.0,
        interval_s: float = 0.05,
    ) -> dict[str, Any]:
        """Poll the task until ``until(task)`` holds; TimeoutError naming the last state otherwise."""
        deadline = time.monotonic() + timeout_s
        task = self.get_task(task_id)
        while not until(task):
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} is still {task.get('state')!r} after {timeout_s:.0f}s")
            time.sleep(interval_s)
            task = self.get_task(task_id)
        return task

    def wait_settled(self, task_id: str, *, timeout_s: float = 30.0) -> dict[str, Any]:
        """Wait until the task is final or waiting for an approval."""
        return self.wait_for(
            task_id, lambda t: t.get("state") in FINAL_STATES | {"awaiting_approval"}, timeout_s=timeout_s
        )


def host_url_for(state_dir: str | Path) -> str | None:
    """The URL the host running on ``state_dir`` recorded there, or None when none did."""
    try:
        info = json.loads((Path(state_dir) / HOST_INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = info.get("url") if isinstance(info, dict) else None
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def _segment(value: str) -> str:
    """``value`` as one path segment (an id with a slash cannot reach another route)."""
    return urllib.parse.quote(value, safe="")


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
