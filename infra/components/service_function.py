"""One Lambda function with its own least-privilege role, its own log group and an optional trigger
(an SQS event source, or a schedule)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import CLOUDWATCH_RETENTION_DAYS
from infra.iam import Statement, log_writer, policy_json, service_trust, sqs_consumer, xray_writer

__all__ = ["QueueTrigger", "ScheduleTrigger", "ServiceFunctionArgs", "ServiceFunction", "rate_expression"]

RUNTIME = "python3.12"


@dataclass(frozen=True)
class QueueTrigger:
    """An SQS event source; failures are reported per message (partial batch responses)."""

    queue_arn: pulumi.Input[str]
    batch_size: int = 10
    maximum_concurrency: int = 2


@dataclass(frozen=True)
class ScheduleTrigger:
    """Run the function every ``rate_minutes`` (an EventBridge rule; the event carries nothing needed)."""

    rate_minutes: int


def rate_expression(minutes: int) -> str:
    """The EventBridge rate expression for ``minutes`` (singular unit for 1, as EventBridge requires)."""
    if not 1 <= minutes <= 1440:
        raise ValueError(f"a schedule runs every 1-1440 minutes, not {minutes}")
    return "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"


@dataclass
class ServiceFunctionArgs:
    """Inputs of :class:`ServiceFunction`."""

    function_name: str
    handler: str
    code: pulumi.Archive
    code_sha256_base64: str
    architecture: str
    memory_mb: int
    timeout_seconds: int
    log_retention_days: int
    environment: Mapping[str, pulumi.Input[str]]
    statements: Sequence[Statement] = ()
    # One trigger, or several queues (the dead-letters Lambda drains two DLQs).
    trigger: QueueTrigger | ScheduleTrigger | tuple[QueueTrigger, ...] | None = None
    # A role created elsewhere because another system trusts its ARN (the bridge to Azure);
    # this component then only attaches its own permissions to it.
    existing_role: aws.iam.Role | None = None
    description: str = ""
    # None (the default): no reservation, which a new account's quota of 10 could not grant (AWS keeps
    # 100 unreserved); a queue trigger's maximum_concurrency is the ceiling instead.
    reserved_concurrency: int | None = None
    # An environment variable of comma-separated role ids to which this function's own role's unique
    # id (AROA...) is appended: a function that must recognise its own sends (the dead-letters drain
    # reading its own answers back from a DLQ) learns it from the role resource, whatever replaced it.
    own_role_id_variable: str | None = None


class ServiceFunction(pulumi.ComponentResource):
    """A Lambda, its role (exact actions and ARNs), its log group with retention and its trigger."""

    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup

    def __init__(
        self, name: str, args: ServiceFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agentcage:aws:ServiceFunction", name, None, opts)
        if args.log_retention_days not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(
                f"{name}: log_retention_days {args.log_retention_days} is not a CloudWatch value"
            )
        if args.architecture not in ("arm64", "x86_64"):
            raise ValueError(f"{name}: architecture must be arm64 or x86_64")
        queue_triggers = _queue_triggers(args.trigger)
        if isinstance(args.trigger, tuple) and not queue_triggers:
            raise ValueError(f"{name}: a tuple of queue triggers names at least one queue")
        if any(not 2 <= trigger.maximum_concurrency <= 1000 for trigger in queue_triggers):
            raise ValueError(f"{name}: SQS maximum concurrency must be 2-1000")
        if args.reserved_concurrency is not None and args.reserved_concurrency < sum(
            trigger.maximum_concurrency for trigger in queue_triggers
        ):
            # The pollers would be throttled, and throttled batches end in the dead-letter queue.
            raise ValueError(f"{name}: reserved concurrency is below its queue triggers' maximum concurrency")
        schedule = (
            rate_expression(args.trigger.rate_minutes) if isinstance(args.trigger, ScheduleTrigger) else None
        )
        child = pulumi.ResourceOptions(parent=self)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        if args.existing_role is None:
            self.role = aws.iam.Role(
                f"{name}-role",
                assume_role_policy=policy_json([service_trust("lambda.amazonaws.com")]),
                description=f"{args.function_name}: only what this function does",
                opts=child,
            )
        else:
            self.role = args.existing_role
        statements: list[Statement] = [log_writer(self.log_group.arn), xray_writer()]
        if queue_triggers:
            statements.append(sqs_consumer(*(trigger.queue_arn for trigger in queue_triggers)))
        statements.extend(args.statements)
        policy = aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.name, policy=policy_json(statements), opts=child
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description=args.description or args.function_name,
            runtime=RUNTIME,
            handler=args.handler,
            role=self.role.arn,
            code=args.code,
            source_code_hash=args.code_sha256_base64,
            architectures=[args.architecture],
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            reserved_concurrent_executions=args.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=self._environment(args)),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=self.log_group.name
            ),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            # The role's policy must exist before the first invocation tries to log or poll.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, self.log_group]),
        )
        if schedule is not None:
            self._schedule(name, schedule)
        for index, trigger in enumerate(queue_triggers):
            # One queue keeps the name it always had (a rename would replace the mapping).
            aws.lambda_.EventSourceMapping(
                f"{name}-trigger" if len(queue_triggers) == 1 else f"{name}-trigger-{index}",
                event_source_arn=trigger.queue_arn,
                function_name=self.function.arn,
                batch_size=trigger.batch_size,
                function_response_types=["ReportBatchItemFailures"],
                scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                    maximum_concurrency=trigger.maximum_concurrency
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )
        self.register_outputs(
            {
                "function_arn": self.function.arn,
                "function_name": self.function.name,
                "role_arn": self.role.arn,
                "log_group_name": self.log_group.name,
            }
        )

    def _environment(self, args: ServiceFunctionArgs) -> dict[str, pulumi.Input[str]]:
        variables = dict(args.environment)
        name = args.own_role_id_variable
        if name is not None:
            others = variables.get(name, "")
            variables[name] = pulumi.Output.all(others, self.role.unique_id).apply(
                lambda ids: ",".join(part for part in (*str(ids[0]).split(","), str(ids[1])) if part)
            )
        return variables

    def _schedule(self, name: str, expression: str) -> None:
        child = pulumi.ResourceOptions(parent=self)
        rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            schedule_expression=expression,
            description=f"Runs {name} {expression}",
            opts=child,
        )
        # Only this rule may invoke the function (resource policy), so no role is needed for it.
        permission = aws.lambda_.Permission(
            f"{name}-schedule-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-schedule-target",
            rule=rule.name,
            arn=self.function.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )


def _queue_triggers(
    trigger: QueueTrigger | ScheduleTrigger | tuple[QueueTrigger, ...] | None,
) -> tuple[QueueTrigger, ...]:
    if isinstance(trigger, QueueTrigger):
        return (trigger,)
    return trigger if isinstance(trigger, tuple) else ()
