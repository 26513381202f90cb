"""One request shape, one response shape and the seam between them: how a caller reaches a data service.

The executor (AWS) and the coordinator's target reader (Azure) both call catalog operations of the data
services. They build a :class:`ServiceRequest` from a tool and its validated arguments, hand it to a
:class:`ServiceTransport` and read a :class:`ServiceResponse` (status and decoded body). In the cloud
the transport is :class:`~agentcage.transport.sigv4.SigV4ApiGatewayTransport`; the local runtime and
the tests use an in-process transport that calls the data-service handler directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from agentcage.errors import TransportError

if TYPE_CHECKING:
    from agentcage.tools import Tool

__all__ = [
    "MAX_RESPONSE_BYTES",
    "ServiceRequest",
    "ServiceResponse",
    "ServiceTransport",
    "decode_body",
]

# A tool result travels back in a ToolResult (at most ~248 KiB); a larger answer cannot be delivered.
MAX_RESPONSE_BYTES: Final = 240 * 1024


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """One call of a catalog operation, in the terms both transports need.

    ``resource`` is the catalog's path template (``/customers/{customer_id}``) and ``path`` the
    concrete, percent-encoded path; ``query`` values are already strings.
    """

    operation: str
    method: str
    resource: str
    path: str
    path_parameters: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    @classmethod
    def for_tool(cls, tool: Tool, args: Mapping[str, Any], headers: Mapping[str, str]) -> ServiceRequest:
        """The request for validated ``args`` of ``tool`` (the tool's own request builder places them)."""
        method, path, query, body = tool.build_request(args)
        path_parameters = {
            name: _text(value) for name, value in args.items() if tool.locations.get(name) == "path"
        }
        return cls(
            operation=tool.name,
            method=method,
            resource=tool.path,
            path=path,
            path_parameters=path_parameters,
            query={name: _text(value) for name, value in query.items()},
            headers=dict(headers),
            body=body,
        )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class ServiceResponse:
    """What the data service answered: status, headers (lower-case names), the decoded body."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str:
        """The service's ``error.code`` when its body has one, else ``http_<status>``."""
        if isinstance(self.body, Mapping):
            error = self.body.get("error")
            if isinstance(error, Mapping) and isinstance(error.get("code"), str) and error["code"]:
                return str(error["code"])[:64]
        return f"http_{self.status}"

    @property
    def error_message(self) -> str:
        """The service's ``error.message`` when its body has one, else a generic sentence."""
        if isinstance(self.body, Mapping):
            error = self.body.get("error")
            if isinstance(error, Mapping) and isinstance(error.get("message"), str):
                return str(error["message"])[:1024]
        return f"the service answered HTTP {self.status}"


class ServiceTransport(Protocol):
    """Calls a data service; raises :class:`TransportError` when no answer came (timeout, network)."""

    def send(self, request: ServiceRequest) -> ServiceResponse:
        """Send ``request`` and return the service's answer, whatever its status."""
        ...


def decode_body(raw: bytes | str | None, content_type: str | None) -> Any:
    """A response body as JSON when it is JSON, as text otherwise; ``None`` when empty.

    Larger than :data:`MAX_RESPONSE_BYTES` raises :class:`TransportError`: it could not be delivered.
    """
    if raw is None or raw in (b"", ""):
        return None
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > MAX_RESPONSE_BYTES:
        raise TransportError(
            f"the service answered {len(data)} bytes; at most {MAX_RESPONSE_BYTES} fit in a tool result",
            details={"size": len(data), "limit": MAX_RESPONSE_BYTES},
        )
    media = (content_type or "").split(";", 1)[0].strip().lower()
    text = data.decode("utf-8", errors="replace")
    if media == "application/json" or media.endswith("+json") or not media:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return text
