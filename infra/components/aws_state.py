"""The AWS state: the ledger, idempotency and domain tables, and the two SQS queues with their DLQs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from agentcage.constants import TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE
from agentcage.ledger.dynamodb_items import TTL_ATTRIBUTE as LEDGER_TTL_ATTRIBUTE
from agentcage.topology import QueueSpec, dead_letter_queue
from infra.iam import Statement, policy_json

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

    def restrict_senders(self, logical: str, senders: Sequence[pulumi.Input[str]]) -> aws.sqs.QueuePolicy:
        """Let only the roles ``senders`` (ARNs) send to work queue ``logical``: an Allow for them and a
        Deny for every other principal, so a role of this account whose own policy grants
        ``sqs:SendMessage`` (an over-broad grant, a person's admin role) still cannot put a message
        there that the executor would have to tell from the coordinator's."""
        if not senders:
            raise ValueError(f"restrict_senders: at least one sending role is needed for {logical}")
        pair = {TOOL_REQUESTS_QUEUE: self.tool_requests, TOOL_RESULTS_QUEUE: self.tool_results}[logical]
        statements: list[Statement] = [
            {
                "Sid": "OnlyTheseRolesSend",
                "Effect": "Allow",
                "Principal": {"AWS": list(senders)},
                "Action": ["sqs:SendMessage"],
                "Resource": [pair.queue.arn],
            },
            {
                "Sid": "NoOtherPrincipalSends",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["sqs:SendMessage"],
                "Resource": [pair.queue.arn],
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": list(senders)}},
            },
        ]
        return aws.sqs.QueuePolicy(
            f"{self._name}-{logical}-senders",
            queue_url=pair.queue.url,
            policy=policy_json(statements),
            opts=pulumi.ResourceOptions(parent=self),
        )

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
