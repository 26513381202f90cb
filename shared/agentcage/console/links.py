"""Where a person follows one trace id into each cloud's own tools.

- **AWS**: the X-Ray trace (the same 128 bits as the W3C trace id: ``1-<8 hex>-<24 hex>``) and a
  CloudWatch Logs Insights query over the Lambdas' Powertools JSON lines, filtered on the trace id key
  the Lambdas log (:data:`agentcage.monitoring_names.LOG_TRACE_ID`).
- **Azure**: a KQL query over the workspace-based Application Insights tables the coordinator's
  OpenTelemetry export fills (``OperationId`` is the trace id; a log line outside a span carries the
  bound ``trace_id`` property), opened in the portal's Logs blade for the configured component.

The query text is always shown beside the link, so it can be pasted where a link cannot reach (another
tenant, a saved query). Only names from :mod:`agentcage.monitoring_names` are used, so the console
asks for what the code emits.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from agentcage.constants import APP_INSIGHTS_RESOURCE_ID_ENV
from agentcage.monitoring_names import (
    KQL_OPERATION_ID,
    KQL_PROPERTIES,
    KQL_REQUESTS,
    KQL_TRACES,
    LOG_MESSAGE,
    LOG_TASK_ID,
    LOG_TOOL,
    LOG_TRACE_ID,
)

__all__ = [
    "AWS_REGION_ENVS",
    "TraceLinks",
    "trace_links",
]

AWS_REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")


@dataclass(frozen=True, slots=True)
class TraceLinks:
    """The queries for one trace id in both clouds, and links to run them where configured."""

    trace_id: str
    xray_trace_id: str
    cloudwatch_query: str
    kql_query: str
    xray_url: str | None
    cloudwatch_url: str | None
    app_insights_url: str | None


def _cloudwatch_query(trace_id: str) -> str:
    fields = ", ".join(("@timestamp", "@log", LOG_MESSAGE, LOG_TASK_ID, LOG_TOOL, LOG_TRACE_ID))
    return f'fields {fields}\n| filter {LOG_TRACE_ID} = "{trace_id}"\n| sort @timestamp asc\n| limit 1000'


def _kql_query(trace_id: str) -> str:
    return (
        f"union {KQL_REQUESTS}, {KQL_TRACES}\n"
        f'| where {KQL_OPERATION_ID} == "{trace_id}"'
        f' or tostring({KQL_PROPERTIES}.{LOG_TRACE_ID}) == "{trace_id}"\n'
        f"| project TimeGenerated, Type, OperationName, Message, {KQL_PROPERTIES}\n"
        "| order by TimeGenerated asc"
    )


def _cloudwatch_url(region: str, query: str) -> str:
    """The Logs Insights page with ``query`` in its editor (the console's own ``*``-escaped hash)."""
    editor = quote(query, safe="").replace("%", "*")
    detail = f"~(end~0~start~-86400~timeType~'RELATIVE~unit~'seconds~editorString~'{editor})"
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:logs-insights$3FqueryDetail$3D{detail}"
    )


def _app_insights_url(resource_id: str, query: str) -> str:
    """The portal's Logs blade on the component with ``query`` (its share-link form: gzip, base64)."""
    packed = base64.b64encode(gzip.compress(query.encode("utf-8"), mtime=0)).decode("ascii")
    return (
        "https://portal.azure.com/#blade/Microsoft_Azure_Monitoring_Logs/LogsBlade/resourceId/"
        f"{quote(resource_id, safe='')}/source/LogsBlade.AnalyticsShareLinkToQuery/q/{quote(packed, safe='')}"
        "/timespan/P1D"
    )


def trace_links(trace_id: str, environ: Mapping[str, str] | None = None) -> TraceLinks | None:
    """The links for ``trace_id`` (``None`` when it is not a W3C trace id)."""
    if not _TRACE_ID.fullmatch(trace_id):
        return None
    env = os.environ if environ is None else environ
    region = next((env[name] for name in AWS_REGION_ENVS if env.get(name)), "")
    region = region if _REGION.fullmatch(region) else ""
    resource_id = (env.get(APP_INSIGHTS_RESOURCE_ID_ENV) or "").strip()
    resource_ok = resource_id.startswith("/subscriptions/") and "/components/" in resource_id.lower()
    xray = f"1-{trace_id[:8]}-{trace_id[8:]}"
    cloudwatch_query, kql_query = _cloudwatch_query(trace_id), _kql_query(trace_id)
    return TraceLinks(
        trace_id=trace_id,
        xray_trace_id=xray,
        cloudwatch_query=cloudwatch_query,
        kql_query=kql_query,
        xray_url=(
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#xray:traces/{xray}"
            if region
            else None
        ),
        cloudwatch_url=_cloudwatch_url(region, cloudwatch_query) if region else None,
        app_insights_url=_app_insights_url(resource_id, kql_query) if resource_ok else None,
    )
