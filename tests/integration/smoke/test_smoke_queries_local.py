"""The saved queries' filters over what the code emitted while the smoke's driver played the flow locally.

What this proves: the deployed query text (taken from the monitoring components, as ``pulumi up`` saves
it) selects this task's lines among what the Lambdas print (CloudWatch's input) and among the
Application Insights rows the coordinator's spans become -- and does not select them for another trace.
What it does not prove: ingestion, permissions or the services' own query engines (the cloud smoke).
"""

from __future__ import annotations

import json

import pytest

from agentcage.errors import ConfigurationError, InvalidInputError
from agentcage.trace import new_trace_id
from infra.smoke.insights import LogEvent, matching_events
from infra.smoke.kql import matching_rows
from infra.smoke.saved_queries import fill_placeholders, insights_query_text, saved_search_text, trace_values
from tests.integration.smoke.conftest import LocalRun


def _insights(trace_id: str, task_id: str = "task-none") -> str:
    return fill_placeholders(insights_query_text(), trace_values(trace_id, task_id))


def test_the_saved_logs_insights_query_finds_the_task_in_every_lambda_it_crossed(local_run: LocalRun) -> None:
    # GIVEN the Lambdas' log lines from the run, and the saved trace query filled with its trace id
    query = _insights(local_run.trace_id, local_run.task_id)
    # WHEN the query's filter is applied to them
    found = matching_events(query, local_run.lambda_events)
    # THEN it selects lines of the executor and of the bridge, each one carrying that trace id
    services = {json.loads(event.message)["service"] for event in found}
    assert {"tool_executor", "bridge_to_azure"} <= services, services
    assert all(local_run.trace_id in event.message for event in found)


def test_the_saved_logs_insights_query_finds_nothing_for_another_trace(local_run: LocalRun) -> None:
    assert matching_events(_insights(new_trace_id()), local_run.lambda_events) == []


def test_the_saved_kql_search_finds_the_coordinators_spans_of_the_task(local_run: LocalRun) -> None:
    # GIVEN the Application Insights rows the coordinator's telemetry became, and the saved trace search
    query = fill_placeholders(saved_search_text(), trace_values(local_run.trace_id))
    # WHEN the search is applied to them
    found = matching_rows(query, local_run.telemetry_rows)
    # THEN it selects the agent step and tool call spans of that task, and only rows of its trace
    names = {str(row["Name"]).split(" ")[0] for row in found}
    assert {"invoke_agent", "execute_tool"} <= names, names
    assert all(row["OperationId"] == local_run.trace_id for row in found)
    assert {row["Properties"].get("agentcage.task_id") for row in found} == {local_run.task_id}


def test_the_saved_kql_search_finds_nothing_for_another_trace(local_run: LocalRun) -> None:
    query = fill_placeholders(saved_search_text(), trace_values(new_trace_id()))
    assert local_run.telemetry_rows
    assert matching_rows(query, local_run.telemetry_rows) == []


@pytest.mark.parametrize(
    "query",
    [
        "fields @message | stats count(*) by bin(5m)",
        'filter trace_id like "abc"',
        "parse @message 'a*b' as x",
    ],
)
def test_the_local_insights_evaluator_refuses_what_it_does_not_implement(query: str) -> None:
    with pytest.raises(InvalidInputError):
        matching_events(query, [LogEvent('{"trace_id": "abc"}')])


@pytest.mark.parametrize(
    "query",
    [
        "AppTraces | summarize count() by OperationId",
        "AppTraces | where OperationId contains 'a'",
        "AppTraces | extend x = 1",
    ],
)
def test_the_local_kql_evaluator_refuses_what_it_does_not_implement(query: str) -> None:
    with pytest.raises(InvalidInputError):
        matching_rows(query, [{"Type": "AppTraces", "OperationId": "a"}])


def test_the_evaluators_read_what_the_saved_queries_use() -> None:
    events = [LogEvent('{"a": {"b": "x"}, "n": 3}'), LogEvent("START RequestId: 1"), LogEvent('{"a": "y"}')]
    assert matching_events('fields a.b | filter a.b = "x" and (n = 3 or n = "4")', events) == [events[0]]
    assert matching_events('filter a = "y"', events) == [events[2]]
    assert matching_events('filter @message = "START RequestId: 1"', events) == [events[1]]
    rows = [
        {"Type": "AppTraces", "OperationId": "1", "Properties": {"code": "denied"}},
        {"Type": "AppRequests", "OperationId": "1", "Properties": {}},
        {"Type": "AppEvents", "OperationId": "1", "Properties": {"code": "denied"}},
    ]
    query = (
        "union AppTraces, AppRequests\n| where "
        'tostring(Properties.code) in ("denied", "x") or OperationId == "2"'
    )
    assert matching_rows(query, rows) == [rows[0]]
    assert matching_rows('AppRequests | where Properties["code"] != "denied"', rows) == []


def test_a_placeholder_the_smoke_cannot_fill_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="SPAN_ID_16_HEX"):
        fill_placeholders('filter span_id = "SPAN_ID_16_HEX"', trace_values(new_trace_id()))
