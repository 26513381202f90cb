"""A task page links its trace to each cloud's tools exactly where the app settings say where they are."""

from __future__ import annotations

import base64
import gzip
from urllib.parse import unquote

from agentcage.console.links import trace_links
from agentcage.constants import APP_INSIGHTS_RESOURCE_ID_ENV

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
COMPONENT = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Insights/components/agentcage-dev-ai"


def test_with_the_component_and_region_set_both_clouds_are_linked() -> None:
    links = trace_links(TRACE_ID, {APP_INSIGHTS_RESOURCE_ID_ENV: COMPONENT, "AWS_REGION": "eu-west-1"})

    assert links is not None
    assert links.app_insights_url is not None
    _, _, rest = links.app_insights_url.partition("/resourceId/")
    resource, _, rest = rest.partition("/source/")
    assert unquote(resource) == COMPONENT
    packed = unquote(rest.split("/q/")[1].split("/")[0])
    assert gzip.decompress(base64.b64decode(packed)).decode() == links.kql_query
    assert TRACE_ID in links.kql_query
    assert links.xray_url is not None
    assert "1-4bf92f35-77b34da6a3ce929d0e0e4736" in links.xray_url
    assert links.cloudwatch_url is not None
    assert links.cloudwatch_url.startswith("https://eu-west-1.")


def test_unset_or_malformed_settings_give_the_queries_without_links() -> None:
    for environ in ({}, {APP_INSIGHTS_RESOURCE_ID_ENV: "not-a-resource-id", "AWS_REGION": "nowhere"}):
        links = trace_links(TRACE_ID, environ)
        assert links is not None
        assert (links.app_insights_url, links.xray_url, links.cloudwatch_url) == (None, None, None)
        assert TRACE_ID in links.cloudwatch_query


def test_a_value_that_is_not_a_trace_id_gets_no_links() -> None:
    assert trace_links("not-a-trace", {APP_INSIGHTS_RESOURCE_ID_ENV: COMPONENT}) is None
