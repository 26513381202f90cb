"""Azure Monitor: saved KQL searches in the workspace (a task, a trace, breaker trips, denials) and,
when alarms are on, scheduled query alerts and a dead-letter metric alert to an action group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor, operationalinsights

from agentcage.errors import AgentcageError, ApprovalRequiredError, CircuitOpenError, GovernanceError

__all__ = ["AzureMonitoringArgs", "AzureMonitoring", "saved_searches", "alert_queries"]

_TELEMETRY = "union AppTraces, AppRequests, AppDependencies, AppExceptions"


def _denial_codes() -> list[str]:
    # Every GovernanceError code except "needs approval", which pauses a task rather than denying it.
    found: list[type[AgentcageError]] = [GovernanceError]
    pending: list[type[AgentcageError]] = [GovernanceError]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.append(sub)
            pending.append(sub)
    return sorted({cls.code for cls in found if cls is not ApprovalRequiredError})


def saved_searches() -> dict[str, tuple[str, str]]:
    """id -> (display name, KQL); replace the upper-case placeholder before running one."""
    return {
        "task_by_id": (
            "agentcage: a task by id",
            (
                f'{_TELEMETRY}\n| where tostring(Properties.task_id) == "TASK_ID"\n'
                "| project TimeGenerated, Type, OperationId, OperationName, Message, SeverityLevel,"
                " Properties\n| order by TimeGenerated asc"
            ),
        ),
        # OperationId is the W3C trace id: the same 32 hex digits as in CloudWatch and X-Ray.
        "trace_by_id": (
            "agentcage: a trace by id",
            (
                f'{_TELEMETRY}\n| where OperationId == "TRACE_ID_32_HEX"\n'
                "| project TimeGenerated, Type, OperationName, Message, SeverityLevel, Properties\n"
                "| order by TimeGenerated asc"
            ),
        ),
        "breaker_trips": ("agentcage: breaker trips", alert_queries()["breaker_trips"]),
        "denials": (
            "agentcage: denials by tool",
            "AppTraces\n| where tostring(Properties.code) in ("
            + ", ".join(f'"{code}"' for code in _denial_codes())
            + ")\n"
            "| summarize denials = count() by tool = tostring(Properties.tool), bin(TimeGenerated, 5m)",
        ),
    }


def alert_queries() -> dict[str, str]:
    """The KQL the scheduled alerts count (error codes come from agentcage.errors, not restated)."""
    return {
        "breaker_trips": (
            f'AppTraces\n| where tostring(Properties.code) == "{CircuitOpenError.code}"\n'
            "| summarize trips = count() by tool = tostring(Properties.tool)"
        ),
        "function_failures": (
            "AppRequests\n| where Success == false\n| summarize failures = count() by OperationName"
        ),
    }


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
