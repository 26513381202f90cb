"""Azure Monitor: saved KQL searches in the workspace (a task, a trace, breaker trips, denials, model
tokens and cost) and, when alarms are on, scheduled query alerts and a dead-letter metric alert to an
action group.

Application Insights is workspace-based, so the KQL reads the ``App*`` tables. What the coordinator
emits lands there as (:mod:`agentcage.monitoring_names`, the one source of these names):

- a log record's attributes -> ``AppTraces.Properties`` (the task context is on every record:
  ``agentcage.telemetry.log_context``; denials and breaker trips add ``event``, ``code``, ``tool``);
- a span's attributes -> ``AppDependencies.Properties`` (``agentcage.task_id``), its trace id ->
  ``OperationId``, as for a log record logged inside it;
- the budget guard's counters -> ``AppMetrics`` (``Name``, ``Sum``).

``AppRequests`` (``Success``, ``OperationName``) is written by the Functions host for each invocation.
``tests/infra/test_infra_monitoring_names.py`` runs the coordinator and checks every name is emitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor, operationalinsights

from agentcage.constants import AGENT_STEPS_QUEUE
from agentcage.monitoring_names import (
    AZURE_METRICS,
    EVENT_BREAKER_TRIPPED,
    EVENT_TOOL_DENIED,
    KQL_DEPENDENCIES,
    KQL_EXCEPTIONS,
    KQL_METRIC_NAME,
    KQL_METRIC_SUM,
    KQL_METRICS,
    KQL_OPERATION_ID,
    KQL_PROPERTIES,
    KQL_REQUESTS,
    KQL_TRACES,
    LOG_CODE,
    LOG_EVENT,
    LOG_TASK_ID,
    LOG_TOOL,
    LOG_TRACE_ID,
    METRIC_COST_MICRO_USD,
    METRIC_DIMENSION_REASON,
    METRIC_TOKENS_USED,
    METRIC_UNREADABLE_MESSAGES,
    METRIC_UNVOUCHED_MESSAGES,
    SPAN_TASK_ID,
)

__all__ = ["AzureMonitoringArgs", "AzureMonitoring", "saved_searches", "alert_queries"]

_TELEMETRY = f"union {KQL_TRACES}, {KQL_REQUESTS}, {KQL_DEPENDENCIES}, {KQL_EXCEPTIONS}"


def _property(name: str) -> str:
    """A ``Properties`` key as a string (bracketed: span attribute names have dots)."""
    return f'tostring({KQL_PROPERTIES}["{name}"])'


def _metric(name: str) -> str:
    """``name`` quoted, refused unless the coordinator emits it (``AZURE_METRICS``)."""
    if name not in AZURE_METRICS:
        raise ValueError(f"{name} is not emitted in Azure (agentcage.monitoring_names.AZURE_METRICS)")
    return f'"{name}"'


def saved_searches() -> dict[str, tuple[str, str]]:
    """id -> (display name, KQL); replace the upper-case placeholder before running one."""
    return {
        # Log lines carry the task id as task_id, spans as agentcage.task_id.
        "task_by_id": (
            "agentcage: a task by id",
            (
                f'{_TELEMETRY}\n| where {_property(LOG_TASK_ID)} == "TASK_ID"'
                f' or {_property(SPAN_TASK_ID)} == "TASK_ID"\n'
                f"| project TimeGenerated, Type, {KQL_OPERATION_ID}, OperationName, Message, SeverityLevel,"
                f" {KQL_PROPERTIES}\n| order by TimeGenerated asc"
            ),
        ),
        # OperationId is the W3C trace id: the same 32 hex digits as in CloudWatch and X-Ray. A log
        # line written outside any span has none, but carries the bound trace_id.
        "trace_by_id": (
            "agentcage: a trace by id",
            (
                f'{_TELEMETRY}\n| where {KQL_OPERATION_ID} == "TRACE_ID_32_HEX"'
                f' or {_property(LOG_TRACE_ID)} == "TRACE_ID_32_HEX"\n'
                f"| project TimeGenerated, Type, OperationName, Message, SeverityLevel, {KQL_PROPERTIES}\n"
                "| order by TimeGenerated asc"
            ),
        ),
        "breaker_trips": ("agentcage: breaker trips", alert_queries()["breaker_trips"]),
        "denials": (
            "agentcage: denials by tool",
            (
                f'{KQL_TRACES}\n| where {_property(LOG_EVENT)} == "{EVENT_TOOL_DENIED}"\n'
                f"| summarize denials = count() by tool = {_property(LOG_TOOL)},"
                f" code = {_property(LOG_CODE)}, bin(TimeGenerated, 5m)"
            ),
        ),
        # Model calls are settled here, in the coordinator: their spend is an Azure metric. in~, not in:
        # the OpenTelemetry SDK lower-cases instrument names, so AppMetrics holds "tokensused".
        "tokens_and_cost": (
            "agentcage: tokens and cost",
            (
                f"{KQL_METRICS}\n| where {KQL_METRIC_NAME} in~"
                f" ({_metric(METRIC_TOKENS_USED)}, {_metric(METRIC_COST_MICRO_USD)})\n"
                f"| summarize total = sum({KQL_METRIC_SUM}) by {KQL_METRIC_NAME}, bin(TimeGenerated, 5m)"
            ),
        ),
    }


def alert_queries() -> dict[str, str]:
    """The KQL the scheduled alerts count."""
    return {
        # Every trip the coordinator's budget guard makes: a loop, a budget, a circuit kept asked for.
        "breaker_trips": (
            f'{KQL_TRACES}\n| where {_property(LOG_EVENT)} == "{EVENT_BREAKER_TRIPPED}"\n'
            f"| summarize trips = count() by reason = {_property(LOG_CODE)}, tool = {_property(LOG_TOOL)}"
        ),
        "function_failures": (
            f"{KQL_REQUESTS}\n| where Success == false\n| summarize failures = count() by OperationName"
        ),
        # Messages the coordinator dead-lettered without an outcome, or refused to forward to AWS: a
        # body that is no envelope, or one the ledger does not vouch for. A forgery or a bug, each.
        "unreadable_messages": _counted_by_queue(METRIC_UNREADABLE_MESSAGES),
        "unvouched_messages": _counted_by_queue(METRIC_UNVOUCHED_MESSAGES),
    }


def _counted_by_queue(metric: str) -> str:
    """``metric``'s count per queue (its ``reason``); in~: AppMetrics holds the name lower-cased."""
    return (
        f"{KQL_METRICS}\n| where {KQL_METRIC_NAME} in~ ({_metric(metric)})\n"
        f"| summarize messages = sum({KQL_METRIC_SUM}) by queue = {_property(METRIC_DIMENSION_REASON)}"
    )


@dataclass
class AzureMonitoringArgs:
    """Inputs of :class:`AzureMonitoring`."""

    prefix: str
    location: str
    resource_group_name: pulumi.Input[str]
    workspace_id: pulumi.Input[str]
    workspace_name: pulumi.Input[str]
    servicebus_namespace_id: pulumi.Input[str]
    alarms_enabled: bool
    alarm_emails: Sequence[str]


class AzureMonitoring(pulumi.ComponentResource):
    """Saved searches always; alert rules and their action group when alarms are enabled."""

    def __init__(
        self, name: str, args: AzureMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agentcage:azure:Monitoring", name, None, opts)
        if args.alarms_enabled and not args.alarm_emails:
            raise ValueError(f"{name}: alarms need at least one target")
        child = pulumi.ResourceOptions(parent=self)
        for search_id, (display_name, query) in saved_searches().items():
            operationalinsights.SavedSearch(
                f"{name}-search-{search_id}",
                saved_search_id=f"agentcage_{search_id}",
                category="agentcage",
                display_name=display_name,
                query=query,
                workspace_name=args.workspace_name,
                resource_group_name=args.resource_group_name,
                opts=child,
            )
        if args.alarms_enabled:
            self._alerts(name, args)
        self.register_outputs({})

    def _alerts(self, name: str, args: AzureMonitoringArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        group = monitor.ActionGroup(
            f"{name}-action-group",
            resource_group_name=args.resource_group_name,
            location="Global",
            group_short_name="agentcage",
            enabled=True,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name=f"target-{index}", email_address=email, use_common_alert_schema=True
                )
                for index, email in enumerate(args.alarm_emails)
            ],
            opts=child,
        )
        for rule, query in alert_queries().items():
            monitor.ScheduledQueryRule(
                f"{name}-alert-{rule.replace('_', '-')}",
                resource_group_name=args.resource_group_name,
                location=args.location,
                display_name=f"{args.prefix} {rule.replace('_', ' ')}",
                kind="LogAlert",
                scopes=[args.workspace_id],
                severity=2,
                enabled=True,
                evaluation_frequency="PT5M",
                window_size="PT5M",
                criteria=monitor.ScheduledQueryRuleCriteriaArgs(
                    all_of=[
                        monitor.ConditionArgs(
                            query=query,
                            time_aggregation="Count",
                            operator="GreaterThan",
                            threshold=0,
                            failing_periods=monitor.ConditionFailingPeriodsArgs(
                                min_failing_periods_to_alert=1, number_of_evaluation_periods=1
                            ),
                        )
                    ]
                ),
                actions=monitor.ActionsArgs(action_groups=[group.id]),
                auto_mitigate=True,
                opts=child,
            )
        monitor.MetricAlert(
            f"{name}-alert-dead-letters",
            resource_group_name=args.resource_group_name,
            location="global",
            description="Messages were dead-lettered on the coordinator's Service Bus queues",
            scopes=[args.servicebus_namespace_id],
            severity=2,
            enabled=True,
            evaluation_frequency="PT5M",
            window_size="PT15M",
            criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                all_of=[
                    monitor.MetricCriteriaArgs(
                        criterion_type="StaticThresholdCriterion",
                        name="dead-lettered",
                        metric_namespace="Microsoft.ServiceBus/namespaces",
                        metric_name="DeadletteredMessages",
                        operator="GreaterThan",
                        threshold=0,
                        time_aggregation="Maximum",
                    )
                ],
            ),
            actions=[monitor.MetricAlertActionArgs(action_group_id=group.id)],
            opts=child,
        )
        self._stalled_steps_alert(name, args, group.id)

    def _stalled_steps_alert(self, name: str, args: AzureMonitoringArgs, group_id: pulumi.Input[str]) -> None:
        """A step in the agent-steps dead-letter queue may be a task that stopped: its own alert.

        Nothing drains that DLQ, on purpose: a step dead-letters when its function failed (or was
        killed) on every delivery, almost always for a reason outside the message (the model
        endpoint, a timeout), and resending it once the cause is fixed resumes the task from its
        checkpoint (a step of a finished task, or one the ledger does not vouch for, is ignored).
        Failing those tasks automatically would throw that away. A person resends or discards the
        steps (infra/DEPLOY.md, "Dead-lettered agent steps").
        """
        monitor.MetricAlert(
            f"{name}-alert-stalled-steps",
            resource_group_name=args.resource_group_name,
            location="global",
            description=(
                f"Agent steps in the {AGENT_STEPS_QUEUE} dead-letter queue: their tasks may have stopped. "
                "Fix the cause, then resend or discard them (infra/DEPLOY.md, Dead-lettered agent steps)"
            ),
            scopes=[args.servicebus_namespace_id],
            severity=1,
            enabled=True,
            evaluation_frequency="PT5M",
            window_size="PT15M",
            criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                all_of=[
                    monitor.MetricCriteriaArgs(
                        criterion_type="StaticThresholdCriterion",
                        name="agent-steps-dead-lettered",
                        metric_namespace="Microsoft.ServiceBus/namespaces",
                        metric_name="DeadletteredMessages",
                        # the queue's own count, not the namespace's
                        dimensions=[
                            monitor.MetricDimensionArgs(
                                name="EntityName", operator="Include", values=[AGENT_STEPS_QUEUE]
                            )
                        ],
                        operator="GreaterThan",
                        threshold=0,
                        time_aggregation="Maximum",
                    )
                ],
            ),
            actions=[monitor.MetricAlertActionArgs(action_group_id=group_id)],
            opts=pulumi.ResourceOptions(parent=self),
        )
