"""The coordinator's read path for target tags: the catalog's ``resolve_with`` GETs, signed with SigV4.

A destructive call's policy needs the target's tags as the data service reports them. The coordinator
reads them through API Gateway as the *target reader* role (``AGENTCAGE_TARGET_READER_ROLE_ARN``),
which it assumes with its managed identity's Entra token and which may ``execute-api:Invoke`` only
the GET methods some ``x-agentcage-target.resolve_with`` names (infra derives the same list). The
request is the one the executor would send (:class:`ServiceRequest`, :class:`SigV4ApiGatewayTransport`
from :mod:`agentcage.transport`, the library both sides ship). Any failure is an
:class:`AgentcageError`, which :class:`ReadToolTargetResolver` turns into "unknown": fail closed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from agentcage.constants import (
    API_BASE_URL_ENV,
    ENVIRONMENT_ENV,
    FEDERATION_AUDIENCE_ENV,
    TARGET_READER_ROLE_ARN_ENV,
)
from agentcage.coordinator import NoTargetResolver, ReadToolTargetResolver, TargetResolver
from agentcage.errors import ConfigurationError, ToolNotAllowedError, TransportError
from agentcage.tools import Tool
from agentcage.transport import ServiceRequest, ServiceTransport, SigV4ApiGatewayTransport

__all__ = ["SESSION_NAME", "ApiToolReader", "resolve_with_tools", "target_resolver_from_env"]

_log = logging.getLogger(__name__)

SESSION_NAME = "agentcage-target-reader"  # how CloudTrail names the coordinator's reads


def resolve_with_tools(catalog: Mapping[str, Tool]) -> dict[str, Tool]:
    """The read tools some tool's ``x-agentcage-target`` names: all the reader may ever call."""
    names = {tool.target.resolve_with for tool in catalog.values() if tool.target is not None}
    return {name: catalog[name] for name in sorted(names) if name in catalog}


class ApiToolReader:
    """A :data:`~agentcage.coordinator.ToolReader` over a :class:`ServiceTransport`.

    Calls only the catalog's target-resolving read tools (anything else is refused before a request is
    made) and returns the JSON body of a 2xx answer; any other answer raises :class:`TransportError`.
    """

    def __init__(self, catalog: Mapping[str, Tool], transport: ServiceTransport) -> None:
        self.tools = resolve_with_tools(catalog)
        self.transport = transport

    def __call__(self, name: str, args: Mapping[str, Any]) -> Any:
        """The result of read tool ``name`` with ``args``."""
        tool = self.tools.get(name)
        if tool is None or tool.effect != "read":
            raise ToolNotAllowedError(f"{name} is not a target-resolving read tool", details={"tool": name})
        response = self.transport.send(ServiceRequest.for_tool(tool, args, {}))
        if not response.ok:
            raise TransportError(
                f"{name} answered HTTP {response.status} ({response.error_code})",
                details={"status": response.status, "code": response.error_code},
            )
        return response.body


def target_resolver_from_env(
    env: Mapping[str, str], catalog: Mapping[str, Tool], credential: Any
) -> TargetResolver:
    """The cloud resolver when the app settings name the reader role and the API; else resolve nothing.

    Without them (a local run with no AWS) every destructive call is refused by the fail-closed policy,
    which is logged once here rather than discovered per call.
    """
    role_arn, base_url = env.get(TARGET_READER_ROLE_ARN_ENV), env.get(API_BASE_URL_ENV)
    if not role_arn or not base_url:
        # The local runtime installs its own in-process resolver over this one: no need to warn there.
        log = _log.info if env.get(ENVIRONMENT_ENV) == "local" else _log.warning
        log(
            "%s or %s is not set: targets cannot be resolved and destructive calls will be refused",
            TARGET_READER_ROLE_ARN_ENV,
            API_BASE_URL_ENV,
        )
        return NoTargetResolver()
    audience = env.get(FEDERATION_AUDIENCE_ENV)
    if not audience:
        raise ConfigurationError(f"{TARGET_READER_ROLE_ARN_ENV} is set but {FEDERATION_AUDIENCE_ENV} is not")
    from agentcage.federation import web_identity_credentials

    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    credentials = web_identity_credentials(
        role_arn=role_arn, audience=audience, credential=credential, session_name=SESSION_NAME, region=region
    )
    transport = SigV4ApiGatewayTransport(
        base_url, region=region, credentials=credentials, user_agent="agentcage-coordinator"
    )
    return ReadToolTargetResolver(ApiToolReader(catalog, transport))
