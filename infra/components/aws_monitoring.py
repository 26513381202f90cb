"""CloudWatch: one dashboard, alarms (DLQ depth, dead letters, breaker trips) to an SNS topic, and Logs
Insights queries that follow a task id or a trace id across every function's log group.

Every name here comes from :mod:`agentcage.monitoring_names` and is one the Lambdas emit: metrics from
Powertools Metrics (``AWS_METRICS``; charting anything else raises), log fields from Powertools Logger.
Model tokens and cost are not here: the coordinator settles them in Azure (``AppMetrics``).
``tests/infra/test_infra_monitoring_names.py`` runs the Lambdas and checks every name is emitted."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from agentcage.monitoring_names import (
    AWS_METRICS,
    LOG_AGENT_ID,
    LOG_CODE,
    LOG_LEVEL,
    LOG_MESSAGE,
    LOG_STEP,
    LOG_TASK_ID,
    LOG_TOOL,
    LOG_TRACE_ID,
    METRIC_BREAKER_TRIPS,
    METRIC_DEAD_LETTERS_LEFT,
    METRIC_DEAD_LETTERS_RECEIVED,
    METRIC_DIMENSION_REASON,
    METRIC_DIMENSION_TOOL,
    METRIC_RESERVATIONS_EXPIRED,
    METRIC_TOOL_CALLS,
    METRIC_TOOL_DENIALS,
    METRIC_TOOL_LATENCY,
    METRIC_UNREADABLE_MESSAGES,
    METRIC_UNVOUCHED_MESSAGES,
    METRICS_NAMESPACE,
)

__all__ = [
    "LOG_FIELDS",
    "AwsMonitoringArgs",
    "AwsMonitoring",
    "dashboard_body",
    "insights_queries",
    "total_alarms",
]

_PERIOD = 300
# The keys of the Lambdas' Powertools JSON lines a person reads about one task or one trace:
# Powertools' own, the task context (agentcage.trace.set_powertools_correlation), and the executor's.
LOG_FIELDS = (LOG_LEVEL, LOG_MESSAGE, LOG_TRACE_ID, LOG_TASK_ID, LOG_STEP, LOG_AGENT_ID, LOG_TOOL, LOG_CODE)


def insights_queries() -> dict[str, str]:
    """Logs Insights queries over the Lambdas' log groups; replace the upper-case placeholder first."""
    fields = "fields @timestamp, @log, " + ", ".join(LOG_FIELDS)
    return {
        "task-by-id": f'{fields}\n| filter {LOG_TASK_ID} = "TASK_ID"\n| sort @timestamp asc\n| limit 1000',
        # The W3C trace id, the one the HTTP response, the queues and Application Insights carry.
        "trace-by-id": (
            f'{fields}\n| filter {LOG_TRACE_ID} = "TRACE_ID_32_HEX"\n| sort @timestamp asc\n| limit 1000'
        ),
    }


def _emitted(metric: str) -> str:
    """``metric``, refused unless a Lambda emits it (``AWS_METRICS``): a chart of nothing misleads."""
    if metric not in AWS_METRICS:
        raise ValueError(f"{metric} is not emitted in AWS (agentcage.monitoring_names.AWS_METRICS)")
    return metric


def _total(metric: str) -> str:
    # A Metrics Insights query (not SQL against a database) over fixed metric names.
    return f"SELECT SUM({_emitted(metric)}) FROM {METRICS_NAMESPACE}"  # noqa: S608


def _by(metric: str, aggregate: str = "SUM", group: str = METRIC_DIMENSION_TOOL) -> str:
    return f"SELECT {aggregate}({_emitted(metric)}) FROM {METRICS_NAMESPACE} GROUP BY {group}"  # noqa: S608


def _insights(expression: str, label: str, ident: str) -> list[dict[str, Any]]:
    return [{"expression": expression, "label": label, "id": ident}]


def dashboard_body(region: str, functions: Sequence[str], dlqs: Sequence[str]) -> str:
    """The dashboard's JSON: agentcage metrics from the Lambdas, then SQS and Lambda service metrics."""

    def metric_widget(title: str, metrics: list[Any], stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "metrics": metrics,
                "stat": stat,
                "period": _PERIOD,
            },
        }

    widgets = [
        metric_widget("Tool calls by tool", [_insights(_by(METRIC_TOOL_CALLS), "calls", "calls")]),
        metric_widget("Denials by tool", [_insights(_by(METRIC_TOOL_DENIALS), "denials", "denials")]),
        metric_widget(
            # The executor's trips (a tool's circuit opened); the coordinator's are in Azure.
            "Breaker trips by reason",
            [_insights(_by(METRIC_BREAKER_TRIPS, group=METRIC_DIMENSION_REASON), "trips", "trips")],
        ),
        metric_widget(
            "Tool latency (avg, ms)", [_insights(_by(METRIC_TOOL_LATENCY, "AVG"), "latency", "lat")]
        ),
        metric_widget(
            "Dead letters drained, and left in a DLQ",
            [
                _insights(_total(METRIC_DEAD_LETTERS_RECEIVED), "drained", "drained"),
                _insights(_total(METRIC_DEAD_LETTERS_LEFT), "left", "left"),
            ],
        ),
        metric_widget(
            # Dead letters the drain removed without an outcome: forgeries (or bugs), by DLQ.
            "Dead letters nothing vouches for, by DLQ",
            [
                _insights(
                    _by(METRIC_UNREADABLE_MESSAGES, group=METRIC_DIMENSION_REASON), "unreadable", "unr"
                ),
                _insights(_by(METRIC_UNVOUCHED_MESSAGES, group=METRIC_DIMENSION_REASON), "unvouched", "unv"),
            ],
        ),
        metric_widget(
            "Abandoned reservations returned by the ledger sweeper",
            [_insights(_total(METRIC_RESERVATIONS_EXPIRED), "expired", "expired")],
        ),
        {
            # Model calls are made and settled by the coordinator, in Azure: their spend is there.
            "type": "text",
            "width": 12,
            "height": 6,
            "properties": {
                "markdown": (
                    "**Model tokens and cost** are settled by the coordinator in Azure: see the Log "
                    "Analytics saved search *agentcage: tokens and cost* (AppMetrics)."
                )
            },
        },
        metric_widget(
            "Dead-letter queue depth",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q] for q in dlqs],
            stat="Maximum",
        ),
        metric_widget("Lambda errors", [["AWS/Lambda", "Errors", "FunctionName", f] for f in functions]),
        metric_widget(
            "Lambda duration (p95, ms)",
            [["AWS/Lambda", "Duration", "FunctionName", f] for f in functions],
            stat="p95",
        ),
    ]
    return json.dumps({"widgets": widgets}, sort_keys=True)


_UNREADABLE_ALARM = (
    "A dead letter that is no envelope and names nothing the ledger vouches for was logged and removed: "
    "search the dead-letters log group for 'does not verify'"
)
_UNVOUCHED_ALARM = (
    "A dead letter the ledger does not vouch for (its sender or its claims) was logged and removed: "
    "search the dead-letters log group for 'does not verify'"
)


def total_alarms() -> dict[str, tuple[str, str]]:
    """Alarm name suffix -> (description, metric): alarms on an agentcage metric summed over everything."""
    return {
        # The dead-letters Lambda drains the DLQs, so their depth rarely stays up: alarm on every
        # message that reached one (a tool failed every retry, or a result could not reach Azure).
        "dead-letters": ("A message failed every retry and was dead-lettered", METRIC_DEAD_LETTERS_RECEIVED),
        # The executor's trips (a tool's circuit opened); the coordinator's alert in Azure.
        "breaker-trips": ("A breaker tripped: a tool's circuit opened in the executor", METRIC_BREAKER_TRIPS),
        # Dead letters the drain could not attribute (a sender or claims the ledger does not confirm),
        # logged with their body and removed: each is a forgery or a bug a person must look at.
        "unreadable-messages": (_UNREADABLE_ALARM, METRIC_UNREADABLE_MESSAGES),
        "unvouched-messages": (_UNVOUCHED_ALARM, METRIC_UNVOUCHED_MESSAGES),
    }


@dataclass
class AwsMonitoringArgs:
    """Inputs of :class:`AwsMonitoring`."""

    prefix: str
    region: str
    function_names: Mapping[str, pulumi.Output[str]]  # short name -> Lambda function name
    log_group_names: Sequence[pulumi.Output[str]]
    dead_letter_queue_names: Mapping[str, pulumi.Output[str]]
    alarms_enabled: bool
    alarm_emails: Sequence[str]


class AwsMonitoring(pulumi.ComponentResource):
    """Dashboard, alarms and saved Logs Insights queries."""

    def __init__(
        self, name: str, args: AwsMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agentcage:aws:Monitoring", name, None, opts)
        if args.alarms_enabled and not args.alarm_emails:
            raise ValueError(f"{name}: alarms need at least one target")
        child = pulumi.ResourceOptions(parent=self)
        body = pulumi.Output.all(
            functions=pulumi.Output.all(*args.function_names.values()),
            dlqs=pulumi.Output.all(*args.dead_letter_queue_names.values()),
        ).apply(lambda resolved: dashboard_body(args.region, resolved["functions"], resolved["dlqs"]))
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=args.prefix, dashboard_body=body, opts=child
        )
        log_groups = pulumi.Output.all(*args.log_group_names)
        for query_name, query in insights_queries().items():
            aws.cloudwatch.QueryDefinition(
                f"{name}-{query_name}",
                name=f"{args.prefix}/{query_name}",
                log_group_names=log_groups,
                query_string=query,
                opts=child,
            )
        if args.alarms_enabled:
            self._alarms(name, args)
        self.register_outputs({"dashboard": self.dashboard.dashboard_name})

    def _alarms(self, name: str, args: AwsMonitoringArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        # Not KMS-encrypted on purpose: CloudWatch cannot publish to a topic under the AWS managed
        # SNS key, and alarm notifications carry no data beyond the alarm itself.
        topic = aws.sns.Topic(f"{name}-alarms", name=f"{args.prefix}-alarms", opts=child)
        for index, email in enumerate(args.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-alarm-target-{index}", topic=topic.arn, protocol="email", endpoint=email, opts=child
            )
        actions = [topic.arn]
        for logical, queue_name in args.dead_letter_queue_names.items():
            aws.cloudwatch.MetricAlarm(
                f"{name}-{logical}-dlq-depth",
                name=f"{args.prefix}-{logical}-dlq-not-empty",
                alarm_description=f"Messages in the {logical} DLQ: a message failed every retry",
                namespace="AWS/SQS",
                metric_name="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": queue_name},
                statistic="Maximum",
                period=_PERIOD,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
            )
        # The dead-letters Lambda drains the DLQs, so their depth rarely stays up: alarm on every
        # message that reached one (a tool failed every retry, or a result could not reach Azure).
        for suffix, (description, metric) in total_alarms().items():
            self._total_alarm(f"{name}-{suffix}", f"{args.prefix}-{suffix}", description, metric, actions)

    def _total_alarm(
        self, resource: str, alarm: str, description: str, metric: str, actions: list[pulumi.Output[str]]
    ) -> None:
        """Alarm when ``metric`` summed over every dimension (tool, reason, service) is 1 or more."""
        aws.cloudwatch.MetricAlarm(
            resource,
            name=alarm,
            alarm_description=description,
            metric_queries=[
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    # Metrics Insights sums across every dimension, so new tools are covered.
                    id="total",
                    expression=_total(metric),
                    period=_PERIOD,
                    return_data=True,
                )
            ],
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            opts=pulumi.ResourceOptions(parent=self),
        )
