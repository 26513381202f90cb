"""Every name a dashboard, alarm, saved query or alert rule reads is emitted by the code of that cloud.

One side: the names the monitoring components use, read from the lists they build their resources from
(``insights_queries``, ``dashboard_body``, ``total_alarms``, ``saved_searches``, ``alert_queries``),
and, for the deployed program, checked to be exactly what the Pulumi run registers. Other side: the
names the code really emits, captured by running it (``monitoring_emissions``): the Lambdas' Powertools
EMF metrics and JSON log keys; the coordinator's log records, spans and metric points as the Azure
Monitor exporter turns them into Application Insights rows. Each query is then run, in the small
subset of its language these queries use, over those captured lines and rows: it must find the task.

Renaming a name on one side only (a literal in an emitter, or in a query) fails here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from infra_harness import StackRun
from monitoring_emissions import AwsEmissions, AzureEmissions, AzureRow, run_aws_lambdas, run_coordinator

from agentcage import monitoring_names
from agentcage.monitoring_names import (
    EVENT_BREAKER_TRIPPED,
    EVENT_TOOL_DENIED,
    KQL_DEPENDENCIES,
    KQL_METRICS,
    KQL_REQUESTS,
    KQL_TRACES,
    LOG_CODE,
    LOG_EVENT,
    LOG_TASK_ID,
    LOG_TOOL,
    LOG_TRACE_ID,
    METRIC_BREAKER_TRIPS,
    METRIC_COST_MICRO_USD,
    METRIC_DIMENSION_REASON,
    METRIC_TOKENS_USED,
    METRIC_UNREADABLE_MESSAGES,
    METRIC_UNVOUCHED_MESSAGES,
    METRICS_NAMESPACE,
)
from infra.components.aws_monitoring import dashboard_body, insights_queries, total_alarms
from infra.components.azure_monitoring import alert_queries, saved_searches
from tests.functional.aws.executor.executor_support import FIXTURE_TRACE_ID

EXECUTOR_TASK = "task-returns-0001"  # the task of the executor's SQS fixture records
# AppRequests rows (Success, OperationName) are written by the Functions host for every invocation,
# not by the coordinator's code: the one table no in-process run can produce.
HOST_WRITTEN = {KQL_REQUESTS}

_METRICS_INSIGHTS = re.compile(r"SELECT (\w+)\((\w+)\) FROM (\w+)(?: GROUP BY (\w+))?$")
_PLACEHOLDER = re.compile(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"')


@pytest.fixture(scope="module")
def aws() -> AwsEmissions:
    return run_aws_lambdas()


@pytest.fixture(scope="module")
def azure() -> AzureEmissions:
    return run_coordinator()


def _fill(query: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: f'"{values[m.group(1)]}"', query)


# --- CloudWatch metrics ---------------------------------------------------------------------------------
def _charted_expressions() -> list[str]:
    body = json.loads(dashboard_body("eu-west-1", ["fn"], ["dlq"]))
    expressions = []
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], dict):
                expressions.append(metric[0]["expression"])
            else:  # [namespace, name, dimension, value]: a metric of the AWS service itself
                assert metric[0].startswith("AWS/"), (
                    f"a dashboard metric outside AWS/ and agentcage: {metric}"
                )
    return expressions


def _alarm_expressions() -> list[str]:
    from infra.components.aws_monitoring import _total

    return [_total(metric) for _, metric in total_alarms().values()]


def test_every_agentcage_metric_charted_or_alarmed_is_emitted_by_a_lambda(aws: AwsEmissions) -> None:
    # GIVEN every Metrics Insights expression of the dashboard and the alarms
    expressions = _charted_expressions() + _alarm_expressions()
    assert len(expressions) >= 8

    # THEN each reads a metric the Lambdas emitted, in that namespace, grouped by a dimension it has
    for expression in expressions:
        match = _METRICS_INSIGHTS.fullmatch(expression)
        assert match, f"not a Metrics Insights expression this test reads: {expression}"
        _, metric, namespace, group = match.groups()
        emitted = aws.metrics.get(namespace, {})
        assert metric in emitted, f"{expression}: no Lambda emits {metric} in {namespace}"
        assert group is None or group in emitted[metric], f"{expression}: {metric} has no dimension {group}"


def test_tokens_and_cost_are_not_charted_in_cloudwatch_where_nothing_emits_them(aws: AwsEmissions) -> None:
    charted = " ".join(_charted_expressions())

    assert METRIC_TOKENS_USED not in aws.metrics[METRICS_NAMESPACE]
    assert METRIC_TOKENS_USED not in charted
    assert METRIC_COST_MICRO_USD not in charted


# --- Logs Insights ----------------------------------------------------------------------------------------
def _insights_fields(query: str) -> list[str]:
    [line] = [line for line in query.splitlines() if line.startswith("fields ")]
    return [f for f in line.removeprefix("fields ").split(", ") if not f.startswith("@")]


def _insights_find(query: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines a ``filter a = "x" or b = "y"`` query keeps."""
    [line] = [line for line in query.splitlines() if line.startswith("| filter ")]
    terms = re.findall(r'(\w+) = "([^"]*)"', line)
    assert len(terms) == line.count(" = "), f"a filter this test cannot read: {line}"
    return [entry for entry in lines if any(str(entry.get(field)) == value for field, value in terms)]


def _services_read(run: StackRun, query: str) -> set[str]:
    """The Powertools services whose log groups the deployed query definition of ``query`` reads."""
    [definition] = [
        d
        for d in run.of_type("aws:cloudwatch/queryDefinition:QueryDefinition")
        if d.inputs["queryString"] == query
    ]
    prefix = f"/aws/lambda/agentcage-{run.stack}-"
    groups = definition.inputs["logGroupNames"]
    assert all(group.startswith(prefix) for group in groups), groups
    return {group.removeprefix(prefix).replace("-", "_") for group in groups}


@pytest.mark.parametrize("key", sorted(insights_queries()))
def test_every_logs_insights_field_is_a_key_of_the_log_groups_it_reads(
    key: str, aws: AwsEmissions, run: StackRun
) -> None:
    # GIVEN the query as deployed, and the log lines of the Lambdas whose log groups it reads
    query = insights_queries()[key]
    services = _services_read(run, query)
    lines = [line for line in aws.log_lines if line.get("service") in services]
    assert lines, f"{key} reads none of the log groups of the Lambdas run here: {sorted(services)}"

    # THEN every field it shows is a key of those lines (not of any Lambda's, wherever it logs)
    missing = set(_insights_fields(query)) - {name for line in lines for name in line}
    assert not missing, f"{key} reads fields no Lambda of its log groups writes: {sorted(missing)}"


def test_the_task_and_trace_queries_find_the_executors_lines(aws: AwsEmissions) -> None:
    values = {"TASK_ID": EXECUTOR_TASK, "TRACE_ID_32_HEX": FIXTURE_TRACE_ID}
    queries = {key: _fill(query, values) for key, query in insights_queries().items()}

    by_task = _insights_find(queries["task-by-id"], aws.log_lines)
    by_trace = _insights_find(queries["trace-by-id"], aws.log_lines)

    # The W3C trace id itself, as a key of its own (correlation_id is Powertools' name for it)
    assert by_trace, "the trace-by-id query finds no line of the executor's request"
    assert {line["trace_id"] for line in by_trace} == {FIXTURE_TRACE_ID}
    assert by_task
    assert {line["task_id"] for line in by_task} == {EXECUTOR_TASK}
    assert {line.get("tool") for line in by_task} >= {"getCustomer"}


# --- KQL --------------------------------------------------------------------------------------------------
_TERM = re.compile(
    r'tostring\(Properties\["(?P<property>[^"]+)"\]\) == "(?P<pvalue>[^"]*)"'
    r'|(?P<column>OperationId) == "(?P<cvalue>[^"]*)"'
    r"|Name (?P<op>in~?) \((?P<names>[^)]*)\)"
    r"|(?P<host>Success) == false"
)


def _tables(query: str) -> set[str]:
    first = query.splitlines()[0]
    return {name.strip() for name in first.removeprefix("union ").split(",")}


def _matches(row: AzureRow, term: re.Match[str]) -> bool:
    if term["property"]:
        return row.properties.get(term["property"]) == term["pvalue"]
    if term["column"]:
        return row.operation_id == term["cvalue"]
    if term["names"]:
        names = [n.strip().strip('"') for n in term["names"].split(",")]
        if term["op"] == "in~":
            return (row.name or "").lower() in {n.lower() for n in names}
        return row.name in names
    return False


def _kql_find(query: str, azure: AzureEmissions) -> list[AzureRow]:
    """The rows a ``where <term> or <term>`` query keeps (the only form these queries use)."""
    [where] = [line for line in query.splitlines() if line.startswith("| where ")]
    terms = list(_TERM.finditer(where))
    assert len(terms) == where.count(" or ") + 1, f"a where clause this test cannot read: {where}"
    return [row for row in azure.in_tables(_tables(query)) if any(_matches(row, t) for t in terms)]


def _term_table(term: re.Match[str]) -> set[str] | None:
    """The table whose rows a ``where`` term is there to find: a log key's on ``AppTraces`` (log
    records), a span attribute's on ``AppDependencies`` (spans); ``None`` for a column every row has."""
    if not term["property"]:
        return None
    log_keys = {v for k, v in vars(monitoring_names).items() if k.startswith("LOG_")}
    span_keys = {v for k, v in vars(monitoring_names).items() if k.startswith("SPAN_")}
    if term["property"] in span_keys:
        return {KQL_DEPENDENCIES}
    if term["property"] in log_keys:
        return {KQL_TRACES}
    raise AssertionError(
        f"{term['property']} is neither a LOG_* nor a SPAN_* name of agentcage.monitoring_names"
    )


def _kql_find_each_term(query: str, azure: AzureEmissions) -> dict[str, list[AzureRow]]:
    """Each term of a ``where a or b`` clause on its own: the rows of its own table it keeps."""
    [where] = [line for line in query.splitlines() if line.startswith("| where ")]
    found: dict[str, list[AzureRow]] = {}
    for term in _TERM.finditer(where):
        tables = _term_table(term) or _tables(query)
        found[term[0]] = [row for row in azure.in_tables(_tables(query) & tables) if _matches(row, term)]
    return found


def _summarized_properties(query: str) -> set[str]:
    summarize = next((line for line in query.splitlines() if line.startswith("| summarize ")), "")
    return set(re.findall(r'tostring\(Properties\["([^"]+)"\]\)', summarize))


def _kql_queries() -> dict[str, str]:
    queries = {f"search {key}": query for key, (_, query) in saved_searches().items()}
    queries.update({f"alert {key}": query for key, query in alert_queries().items()})
    return queries


@pytest.mark.parametrize("key", sorted(_kql_queries()))
def test_every_kql_query_finds_what_the_coordinator_emitted(key: str, azure: AzureEmissions) -> None:
    # GIVEN a query, with its placeholder filled from a task the coordinator ran
    task_id, trace_id = next(iter(azure.trace_ids.items()))
    query = _fill(_kql_queries()[key], {"TASK_ID": task_id, "TRACE_ID_32_HEX": trace_id})
    if _tables(query) <= HOST_WRITTEN:
        pytest.skip(f"{key} reads only rows the Functions host writes")

    # WHEN it runs over the rows Application Insights would hold
    found = _kql_find(query, azure)

    # THEN it finds some, and each property it summarizes by is on them
    assert found, f"{key} matches nothing the coordinator emits:\n{query}"
    for name in _summarized_properties(query):
        assert any(name in row.properties for row in found), f"{key} summarizes by {name}, never set"


def test_a_task_and_its_trace_find_its_log_lines_and_its_spans(azure: AzureEmissions) -> None:
    for task_id, trace_id in azure.trace_ids.items():
        values = {"TASK_ID": task_id, "TRACE_ID_32_HEX": trace_id}
        by_task = _kql_find(_fill(saved_searches()["task_by_id"][1], values), azure)
        by_trace = _kql_find(_fill(saved_searches()["trace_by_id"][1], values), azure)

        assert {row.table for row in by_task} >= {"AppDependencies"}, task_id
        assert {row.operation_id for row in by_trace} == {trace_id}
        assert {id(row) for row in by_task} <= {id(row) for row in by_trace}  # one task, one trace
    # the denial and the trip lines carry the task context the searches read (not only the spans)
    traces = [row for row in azure.rows if row.table == KQL_TRACES]
    assert {row.properties[LOG_EVENT] for row in traces} >= {EVENT_TOOL_DENIED, EVENT_BREAKER_TRIPPED}
    assert all(row.properties.get("task_id") in azure.trace_ids for row in traces)
    assert all(row.properties.get("trace_id") == azure.trace_ids[row.properties["task_id"]] for row in traces)


@pytest.mark.parametrize("key", ["task_by_id", "trace_by_id"])
def test_each_term_of_the_task_and_trace_searches_finds_rows_of_its_own_table(
    key: str, azure: AzureEmissions
) -> None:
    # GIVEN a search that ORs a log key, a span attribute or a column (one term alone must not carry it)
    task_id, trace_id = next(iter(azure.trace_ids.items()))
    query = _fill(saved_searches()[key][1], {"TASK_ID": task_id, "TRACE_ID_32_HEX": trace_id})

    # WHEN each term runs on its own, over the rows of the table it is there for
    found = _kql_find_each_term(query, azure)

    # THEN every term finds some: a renamed log key or span attribute fails here even when another
    # term of the same search still matches
    assert len(found) == query.count(" or ") + 1
    for term, rows in found.items():
        assert rows, f"{key}: the term {term} finds nothing in the rows of its table"


def test_the_log_lines_carry_the_task_and_trace_under_the_searched_names(azure: AzureEmissions) -> None:
    traces = [row for row in azure.rows if row.table == KQL_TRACES]
    assert traces
    assert all(LOG_TASK_ID in row.properties and LOG_TRACE_ID in row.properties for row in traces)


def test_breaker_trips_and_denials_say_which_tool_and_why(azure: AzureEmissions) -> None:
    events = {
        (row.properties[LOG_EVENT], row.properties[LOG_CODE], row.properties.get(LOG_TOOL))
        for row in azure.rows
        if LOG_EVENT in row.properties
    }

    assert (EVENT_BREAKER_TRIPPED, "circuit_open", "negotiateVendorTerms") in events
    assert (EVENT_TOOL_DENIED, "invalid_arguments", "getCustomer") in events
    trips = [
        r
        for r in azure.rows
        if r.table == KQL_METRICS and (r.name or "").lower() == METRIC_BREAKER_TRIPS.lower()
    ]
    assert trips
    assert trips[0].properties.get("reason") == "circuit_open"


# --- what the program deploys is what these lists hold -------------------------------------------------
def _inputs(run: StackRun, resource_type: str) -> list[dict[str, Any]]:
    return [resource.inputs for resource in run.of_type(resource_type)]


def test_the_program_deploys_exactly_the_checked_queries_and_expressions(run: StackRun) -> None:
    # Logs Insights query definitions and saved KQL searches: the lists, one resource each
    deployed_insights = sorted(
        i["queryString"] for i in _inputs(run, "aws:cloudwatch/queryDefinition:QueryDefinition")
    )
    deployed_searches = sorted(
        i["query"] for i in _inputs(run, "azure-native:operationalinsights:SavedSearch")
    )
    assert deployed_insights == sorted(insights_queries().values())
    assert deployed_searches == sorted(query for _, query in saved_searches().values())

    # every agentcage expression on the deployed dashboard is one the test checked
    [dashboard] = _inputs(run, "aws:cloudwatch/dashboard:Dashboard")
    deployed_expressions = {
        metric[0]["expression"]
        for widget in json.loads(dashboard["dashboardBody"])["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if isinstance(metric[0], dict)
    }
    assert deployed_expressions == set(_charted_expressions())

    # and, where alarms are on, every alarm's expression and every alert rule's query
    alarm_expressions = {
        query["expression"]
        for alarm in _inputs(run, "aws:cloudwatch/metricAlarm:MetricAlarm")
        for query in alarm.get("metricQueries", [])
    }
    alert_rule_queries = {
        condition["query"]
        for rule in _inputs(run, "azure-native:monitor:ScheduledQueryRule")
        for condition in rule["criteria"]["allOf"]
    }
    alarms = run.config["agentcage:alarms"]
    if (json.loads(alarms) if isinstance(alarms, str) else alarms).get("enabled"):
        assert alarm_expressions == set(_alarm_expressions())
        assert alert_rule_queries == set(alert_queries().values())
    else:
        assert not alarm_expressions
        assert not alert_rule_queries


# --- messages nothing vouches for: counted in both clouds, alarmed in both ----------------------------
@pytest.mark.parametrize("metric", [METRIC_UNREADABLE_MESSAGES, METRIC_UNVOUCHED_MESSAGES])
def test_messages_nothing_vouches_for_are_alarmed_in_each_cloud_that_counts_them(
    metric: str, aws: AwsEmissions, azure: AzureEmissions, run: StackRun
) -> None:
    # GIVEN the counts each cloud's code emits: the dead-letters drain's (EMF) and the Function App
    # adapter's (AppMetrics, name lower-cased by the SDK), both by queue (``reason``)
    assert METRIC_DIMENSION_REASON in aws.metrics[METRICS_NAMESPACE].get(metric, set())
    rows = [r for r in azure.in_tables({KQL_METRICS}) if (r.name or "").lower() == metric.lower()]
    assert rows
    assert all(row.properties.get(METRIC_DIMENSION_REASON) for row in rows)

    # THEN a CloudWatch alarm sums the metric over every dimension, and an Azure alert counts it
    from infra.components.aws_monitoring import _total

    assert metric in [alarmed for _, alarmed in total_alarms().values()]
    [query] = [q for q in alert_queries().values() if f'"{metric}"' in q]
    assert _kql_find(query, azure) == rows

    # AND where the stack turns alarms on, both are deployed with somewhere to go
    alarms = run.config["agentcage:alarms"]
    if not (json.loads(alarms) if isinstance(alarms, str) else alarms).get("enabled"):
        return
    [alarm] = [
        a
        for a in _inputs(run, "aws:cloudwatch/metricAlarm:MetricAlarm")
        if any(q.get("expression") == _total(metric) for q in a.get("metricQueries", []))
    ]
    assert alarm["alarmActions"]
    [rule] = [
        r
        for r in _inputs(run, "azure-native:monitor:ScheduledQueryRule")
        if any(c["query"] == query for c in r["criteria"]["allOf"])
    ]
    assert rule["actions"]["actionGroups"]
