"""The AWS state: the ledger, idempotency and domain tables, and the two SQS queues with their DLQs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from agentcage.constants import TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE
from agentcage.ledger.dynamodb_items import TTL_ATTRIBUTE as LEDGER_TTL_ATTRIBUTE
from agentcage.topology import QueueSpec, dead_letter_queue
from infra.iam import (
    SQS_CONSUME_ACTIONS,
    SQS_PURGE_ACTION,
    Statement,
    nobody,
    only_the_deployer,
    only_these_roles,
    policy_json,
    principal_arn_patterns,
)

__all__ = ["AwsStateArgs", "AwsState", "QueuePair", "LEDGER_TTL_ATTRIBUTE", "IDEMPOTENCY_TTL_ATTRIBUTE"]

# LEDGER_TTL_ATTRIBUTE is the ledger code's own name (the table must expire what the code marks).
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"  # the Powertools idempotency default
_FOURTEEN_DAYS = 14 * 24 * 3600
_FOUR_DAYS = 4 * 24 * 3600


@dataclass
class AwsStateArgs:
    """Inputs of :class:`AwsState`."""

    prefix: str
    point_in_time_recovery: bool
    deletion_protection: bool
    # Delivery settings of the two AWS queues and their DLQs (agentcage.topology: attempts, visibility
    # window); a DLQ without settings here keeps SQS's default visibility (nothing consumes it).
    queues: Mapping[str, QueueSpec]
    # The timeout of the Lambda consuming each queue: a message must stay invisible while it runs.
    consumer_timeouts: Mapping[str, int]


@dataclass(frozen=True)
class QueuePair:
    """A work queue and its dead-letter queue."""

    queue: aws.sqs.Queue
    dead_letter: aws.sqs.Queue


class AwsState(pulumi.ComponentResource):
    """DynamoDB tables (encrypted, TTL, PITR when asked) and SQS queues (SSE, redrive to a DLQ)."""

    ledger: aws.dynamodb.Table
    idempotency: aws.dynamodb.Table
    domain: aws.dynamodb.Table
    tool_requests: QueuePair
    tool_results: QueuePair

    def __init__(self, name: str, args: AwsStateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("agentcage:aws:State", name, None, opts)
        for logical in (TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE):
            spec, timeout = args.queues.get(logical), args.consumer_timeouts.get(logical)
            if spec is None or timeout is None:
                raise ValueError(f"{name}: delivery settings and consumer timeout needed for {logical}")
            if not 1 <= spec.max_deliveries <= 1000:
                raise ValueError(f"{name}: {logical} max_deliveries must be 1-1000")
            if spec.lock_seconds < timeout:
                raise ValueError(
                    f"{name}: {logical} visibility {spec.lock_seconds}s < consumer timeout {timeout}s"
                )
            dlq = args.queues.get(dead_letter_queue(logical).name)
            dlq_timeout = args.consumer_timeouts.get(dead_letter_queue(logical).name)
            if dlq is not None and dlq_timeout is not None and dlq.lock_seconds < dlq_timeout:
                raise ValueError(
                    f"{name}: {dlq.name} visibility {dlq.lock_seconds}s < consumer timeout {dlq_timeout}s"
                )
        self._args = args
        self._name = name
        self._deployer: pulumi.Output[list[str]] | None = None  # read on first use
        self.ledger = self._table(name, "ledger", ("PK", "SK"), LEDGER_TTL_ATTRIBUTE)
        self.idempotency = self._table(name, "idempotency", ("id", None), IDEMPOTENCY_TTL_ATTRIBUTE)
        self.domain = self._table(name, "domain", ("PK", "SK"), None)
        self.tool_requests = self._queue_pair(name, TOOL_REQUESTS_QUEUE)
        self.tool_results = self._queue_pair(name, TOOL_RESULTS_QUEUE)
        self.register_outputs(
            {
                "ledger_table": self.ledger.name,
                "idempotency_table": self.idempotency.name,
                "domain_table": self.domain.name,
                "tool_requests_queue_url": self.tool_requests.queue.url,
                "tool_results_queue_url": self.tool_results.queue.url,
            }
        )

    def _table(
        self, name: str, purpose: str, keys: tuple[str, str | None], ttl_attribute: str | None
    ) -> aws.dynamodb.Table:
        hash_key, range_key = keys
        attributes = [aws.dynamodb.TableAttributeArgs(name=hash_key, type="S")]
        if range_key is not None:
            attributes.append(aws.dynamodb.TableAttributeArgs(name=range_key, type="S"))
        return aws.dynamodb.Table(
            f"{name}-{purpose}",
            name=f"{self._args.prefix}-{purpose}",
            billing_mode="PAY_PER_REQUEST",
            hash_key=hash_key,
            range_key=range_key,
            attributes=attributes,
            # Explicit SSE with the AWS managed KMS key (auditable in CloudTrail), not the owned default.
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(
                enabled=self._args.point_in_time_recovery
            ),
            deletion_protection_enabled=self._args.deletion_protection,
            ttl=(
                aws.dynamodb.TableTtlArgs(attribute_name=ttl_attribute, enabled=True)
                if ttl_attribute is not None
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=self._args.deletion_protection),
        )

    def restrict_access(
        self,
        logical: str,
        *,
        senders: Sequence[pulumi.Input[str]],
        consumers: Sequence[pulumi.Input[str]],
    ) -> aws.sqs.QueuePolicy:
        """Work queue ``logical``'s policy: only the roles ``senders`` (ARNs) send to it, only the roles
        ``consumers`` receive, delete or hold its messages. Each is an Allow for those roles and a Deny
        for every other principal, so a role of this account whose own policy grants the action (an
        over-broad grant, a person's admin role) still cannot put a message there that the consumer
        would have to tell from the real producer's, nor take one away before its consumer sees it
        (a result received by anyone else never reaches the coordinator, whose task then waits)."""
        queue = self._pair(logical).queue
        statements: list[Statement] = [
            *only_these_roles(
                ("OnlyTheseRolesSend", "NoOtherPrincipalSends"), ["sqs:SendMessage"], senders, queue.arn
            ),
            *only_these_roles(
                ("OnlyTheseRolesConsume", "NoOtherPrincipalConsumes"),
                SQS_CONSUME_ACTIONS,
                consumers,
                queue.arn,
            ),
            self._only_the_deployer_purges(queue.arn),
        ]
        return aws.sqs.QueuePolicy(
            f"{self._name}-{logical}-access",
            queue_url=queue.url,
            policy=policy_json(statements),
            # It was named "-senders" while it held only the senders' half: the alias keeps it the same
            # resource (a replacement would create the new policy, then delete the old one, and with it
            # the queue's policy, since a queue has one).
            opts=pulumi.ResourceOptions(
                parent=self, aliases=[pulumi.Alias(name=f"{self._name}-{logical}-senders")]
            ),
        )

    def restrict_dead_letter_access(
        self, logical: str, *, consumers: Sequence[pulumi.Input[str]]
    ) -> aws.sqs.QueuePolicy:
        """The policy of work queue ``logical``'s dead-letter queue: nobody sends to it (SQS moves a
        message in by its redrive policy, which is no ``SendMessage`` call and is limited to the work
        queue by the redrive-allow policy), and only the roles ``consumers`` (the dead-letters drain)
        receive, delete or hold its messages, so whatever lands there gets the drain's outcome and
        nobody else can make a dead letter vanish unrecorded."""
        dead_letter = self._pair(logical).dead_letter
        statements: list[Statement] = [
            nobody("NobodySends", ["sqs:SendMessage"], dead_letter.arn),
            *only_these_roles(
                ("OnlyTheseRolesConsume", "NoOtherPrincipalConsumes"),
                SQS_CONSUME_ACTIONS,
                consumers,
                dead_letter.arn,
            ),
            self._only_the_deployer_purges(dead_letter.arn),
        ]
        return aws.sqs.QueuePolicy(
            f"{self._name}-{logical}-dlq-access",
            queue_url=dead_letter.url,
            policy=policy_json(statements),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _only_the_deployer_purges(self, queue_arn: pulumi.Input[str]) -> Statement:
        """No principal but the one deploying the stack purges the queue: a purge deletes every pending
        request, result or dead letter at once, unrecorded (the consumers' Deny does not cover it).
        ``sqs:SetQueueAttributes`` is left to IAM: the deployer sets this very policy with it, and a
        Deny that named the deployer wrongly would lock the stack out of its own queues."""
        if self._deployer is None:
            caller = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
            self._deployer = caller.arn.apply(principal_arn_patterns)
        return only_the_deployer("OnlyTheDeployerPurges", [SQS_PURGE_ACTION], self._deployer, queue_arn)

    def _pair(self, logical: str) -> QueuePair:
        pairs = {TOOL_REQUESTS_QUEUE: self.tool_requests, TOOL_RESULTS_QUEUE: self.tool_results}
        if logical not in pairs:
            raise ValueError(f"{self._name}: no work queue named {logical!r}")
        return pairs[logical]

    def _queue_pair(self, name: str, logical: str) -> QueuePair:
        spec = self._args.queues[logical]
        queue_name = f"{self._args.prefix}-{logical}"
        dlq_name = dead_letter_queue(logical).name
        dlq_spec = self._args.queues.get(dlq_name)
        dead_letter = aws.sqs.Queue(
            f"{name}-{logical}-dlq",
            name=f"{self._args.prefix}-{dlq_name}",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=_FOURTEEN_DAYS,
            # The dead-letters Lambda consumes it: a message must stay invisible while it runs.
            visibility_timeout_seconds=dlq_spec.lock_seconds if dlq_spec is not None else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        queue = aws.sqs.Queue(
            f"{name}-{logical}",
            name=queue_name,
            sqs_managed_sse_enabled=True,
            # agentcage.topology sizes this at six times the consumer's timeout (AWS guidance).
            visibility_timeout_seconds=spec.lock_seconds,
            message_retention_seconds=_FOUR_DAYS,
            receive_wait_time_seconds=20,
            redrive_policy=pulumi.Output.json_dumps(
                {"deadLetterTargetArn": dead_letter.arn, "maxReceiveCount": spec.max_deliveries}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-{logical}-dlq-allow",
            queue_url=dead_letter.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [queue.arn]}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return QueuePair(queue=queue, dead_letter=dead_letter)
