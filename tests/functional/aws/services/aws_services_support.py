"""Helpers for the data-service tests: API Gateway event fixtures, a Lambda context double, decoding."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[3] / "events"
DOMAIN_TABLE = "agentcage-test-domain"
IDEMPOTENCY_TABLE = "agentcage-test-idempotency"
FIXTURE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "agentcage-test-service"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:agentcage-test-service"
    aws_request_id: str = "6f1b3c1e-0000-4000-8000-000000000001"
    log_group_name: str = "/aws/lambda/agentcage-test-service"
    log_stream_name: str = "2025/06/01/[$LATEST]0123456789abcdef"
    remaining_ms: int = 30_000
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Answer:
    """A handler's response, decoded."""

    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error_code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/events/apigw_<name>.json``."""
    return copy.deepcopy(json.loads((EVENTS_DIR / f"apigw_{name}.json").read_text(encoding="utf-8")))


def with_body(event: dict[str, Any], body: Any) -> dict[str, Any]:
    """The event with another body (a non-string is JSON-encoded)."""
    changed = copy.deepcopy(event)
    changed["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    return changed


def with_headers(event: dict[str, Any], **headers: str | None) -> dict[str, Any]:
    """The event with headers set (underscores become dashes) or removed (``None``), in both forms."""
    changed = copy.deepcopy(event)
    for raw_name, value in headers.items():
        name = raw_name.replace("_", "-")
        for mapping in (changed["headers"], changed["multiValueHeaders"]):
            for existing in [key for key in mapping if key.lower() == name.lower()]:
                del mapping[existing]
        if value is not None:
            changed["headers"][name] = value
            changed["multiValueHeaders"][name] = [value]
    return changed


def with_path(event: dict[str, Any], path: str, **path_parameters: str) -> dict[str, Any]:
    """The event for another concrete path (and its path parameters)."""
    changed = copy.deepcopy(event)
    changed["path"] = path
    changed["requestContext"]["path"] = f"/{changed['requestContext']['stage']}{path}"
    if path_parameters:
        changed["pathParameters"] = path_parameters
    return changed


def invoke(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]], event: dict[str, Any], context: Any
) -> Answer:
    """Call a Lambda handler and decode its proxy response."""
    response = handler(event, context)
    body = json.loads(response["body"]) if response.get("body") else None
    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(key.lower(), ", ".join(values))
    return Answer(status=response["statusCode"], body=body, headers=headers)
