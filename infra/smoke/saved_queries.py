"""Which saved queries the smoke runs, how they are named when deployed, and how their placeholders fill.

The query text is never restated here: it comes from the monitoring components
(:func:`infra.components.aws_monitoring.insights_queries`,
:func:`infra.components.azure_monitoring.saved_searches`), which is what ``pulumi up`` deploys. In the
cloud the smoke reads the deployed copy by name and says if it differs from the program's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from agentcage.errors import ConfigurationError
from infra.components.aws_monitoring import insights_queries
from infra.components.azure_monitoring import saved_searches

__all__ = [
    "TRACE_INSIGHTS_QUERY",
    "TRACE_SAVED_SEARCH",
    "insights_query_text",
    "saved_search_text",
    "insights_query_name",
    "saved_search_resource_name",
    "trace_values",
    "fill_placeholders",
    "same_query",
]

TRACE_INSIGHTS_QUERY = "trace-by-id"
"""The key of the trace query in ``insights_queries()``."""
TRACE_SAVED_SEARCH = "trace_by_id"
"""The key of the trace search in ``saved_searches()``."""

# An upper-case word in quotes, e.g. "TRACE_ID_32_HEX": what a saved query asks a person to replace.
_PLACEHOLDER = re.compile(r"""["']([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)["']""")


def insights_query_text(key: str = TRACE_INSIGHTS_QUERY) -> str:
    """The program's Logs Insights query ``key``."""
    queries = insights_queries()
    if key not in queries:
        raise ConfigurationError(f"the AWS monitoring component has no Logs Insights query {key!r}")
    return queries[key]


def saved_search_text(key: str = TRACE_SAVED_SEARCH) -> str:
    """The program's saved KQL search ``key``."""
    searches = saved_searches()
    if key not in searches:
        raise ConfigurationError(f"the Azure monitoring component has no saved search {key!r}")
    return searches[key][1]


def insights_query_name(prefix: str, key: str = TRACE_INSIGHTS_QUERY) -> str:
    """The deployed query definition's name (``AwsMonitoring`` names it ``<prefix>/<key>``)."""
    return f"{prefix}/{key}"


def saved_search_resource_name(key: str = TRACE_SAVED_SEARCH) -> str:
    """The deployed saved search's resource name (``AzureMonitoring`` names it ``agentcage_<key>``)."""
    return f"agentcage_{key}"


def trace_values(trace_id: str, task_id: str | None = None) -> dict[str, str]:
    """The placeholder values for one task: its W3C trace id, the same id in X-Ray form, its task id."""
    if not re.fullmatch(r"[0-9a-f]{32}", trace_id):
        raise ConfigurationError(f"{trace_id!r} is not a 32-hex-digit W3C trace id")
    values = {
        "TRACE_ID_32_HEX": trace_id,
        # The same 128 bits: 1-<first 8 hex>-<last 24 hex>.
        "XRAY_TRACE_ID": f"1-{trace_id[:8]}-{trace_id[8:]}",
    }
    if task_id:
        values["TASK_ID"] = task_id
    return values


def fill_placeholders(query: str, values: Mapping[str, str]) -> str:
    """Replace every quoted placeholder; a placeholder without a value is a :class:`ConfigurationError`.

    Refusing beats running the query with the literal placeholder, which would find nothing and blame
    the deployment for a renamed placeholder.
    """
    unknown = sorted({name for name in _PLACEHOLDER.findall(query) if name not in values})
    if unknown:
        raise ConfigurationError(f"the saved query has placeholders the smoke cannot fill: {unknown}")

    def fill(match: re.Match[str]) -> str:
        quote = match.group(0)[0]
        return f"{quote}{values[match.group(1)]}{quote}"

    return _PLACEHOLDER.sub(fill, query)


def same_query(deployed: str, program: str) -> bool:
    """Equal but for whitespace (a service may re-indent or trim what it stores)."""
    return deployed.split() == program.split()
