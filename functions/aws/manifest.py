"""Every Lambda of the system, its handler and what triggers it: one declaration, read by infra (to
create functions, event source mappings and API Gateway integrations) and by the local runtime (to
wire the same handlers to the same queues and routes). Nothing else restates these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from agentcage.constants import TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE
from agentcage.topology import dead_letter_queue

__all__ = ["LAMBDAS", "OPERATION_FUNCTIONS", "LambdaSpec", "lambda_spec"]


@dataclass(frozen=True, slots=True)
class LambdaSpec:
    """One Lambda function.

    ``trigger`` is ``sqs`` (with the logical ``queue`` it consumes, partial-batch responses on),
    ``dead_letters`` (an SQS consumer of the dead-letter queues of the work queues in
    ``dead_letters_of``, declared in :mod:`agentcage.topology`), ``api`` (behind the REST API Gateway,
    serving ``operations`` of the catalog) or ``schedule`` (run on a timer, every ``schedule_minutes``
    unless the stack configures another rate; the event carries nothing the handler needs).
    ``archive`` names the deployment artifact that holds the handler (``infra/packaging.py`` builds
    them): ``core`` (the governance gate: Cedar, schemas, inspection), ``data`` (the data services:
    Powertools and boto3, no Cedar) or ``bridge`` (the Azure SDKs, no Cedar).

    The local runtime wires ``sqs``, ``dead_letters`` and ``api`` Lambdas; it does not run
    ``schedule`` ones (locally nothing abandons a reservation for long: the SQLite ledger can be swept
    on demand by calling the handler, and the cloud sweep is the same ``Ledger.expire_stale``).
    """

    name: str
    handler: str
    trigger: Literal["sqs", "dead_letters", "api", "schedule"]
    archive: Literal["core", "data", "bridge"]
    timeout_seconds: int
    memory_mb: int
    queue: str | None = None
    batch_size: int = 10
    operations: tuple[str, ...] = ()
    schedule_minutes: int | None = None
    dead_letters_of: tuple[str, ...] = ()

    @property
    def queues(self) -> tuple[str, ...]:
        """Every SQS queue this Lambda consumes (its queue, or the dead-letter queues it drains)."""
        if self.queue is not None:
            return (self.queue,)
        return tuple(dead_letter_queue(name).name for name in self.dead_letters_of)

    def __post_init__(self) -> None:
        """Each trigger kind carries exactly what it needs (a queue, operations or a rate)."""
        if (self.trigger == "sqs") != (self.queue is not None):
            raise ValueError(f"{self.name}: a queue is named exactly when the trigger is sqs")
        if (self.trigger == "dead_letters") != bool(self.dead_letters_of):
            raise ValueError(
                f"{self.name}: dead_letters_of is named exactly when the trigger is dead_letters"
            )
        for name in self.dead_letters_of:
            dead_letter_queue(name)  # KeyError naming the queue when topology declares no DLQ for it
        if (self.trigger == "api") != bool(self.operations):
            raise ValueError(f"{self.name}: operations are named exactly when the trigger is api")
        if (self.trigger == "schedule") != (self.schedule_minutes is not None):
            raise ValueError(f"{self.name}: schedule_minutes is set exactly when the trigger is schedule")
        if self.schedule_minutes is not None and not 1 <= self.schedule_minutes <= 1440:
            raise ValueError(f"{self.name}: schedule_minutes must be 1-1440")


LAMBDAS: Final[tuple[LambdaSpec, ...]] = (
    LambdaSpec(
        "tool-executor",
        "functions.aws.tool_executor.handler",
        "sqs",
        "core",
        30,
        512,
        queue=TOOL_REQUESTS_QUEUE,
        batch_size=5,
    ),
    LambdaSpec(
        "bridge-to-azure",
        "functions.aws.bridge_to_azure.handler",
        "sqs",
        "bridge",
        20,
        256,
        queue=TOOL_RESULTS_QUEUE,
        batch_size=10,
    ),
    LambdaSpec(
        "dead-letters",
        "functions.aws.dead_letters.handler",
        "dead_letters",
        "core",
        30,
        256,
        batch_size=10,
        dead_letters_of=(TOOL_REQUESTS_QUEUE, TOOL_RESULTS_QUEUE),
    ),
    LambdaSpec(
        "customers",
        "functions.aws.services.customers.handler",
        "api",
        "data",
        10,
        256,
        operations=("getCustomer",),
    ),
    LambdaSpec(
        "orders",
        "functions.aws.services.orders.handler",
        "api",
        "data",
        10,
        256,
        operations=("listRecentOrders",),
    ),
    LambdaSpec(
        "risk",
        "functions.aws.services.risk.handler",
        "api",
        "data",
        10,
        256,
        operations=("assessReturnException",),
    ),
    LambdaSpec(
        "refunds",
        "functions.aws.services.refunds.handler",
        "api",
        "data",
        15,
        256,
        operations=("createRefund",),
    ),
    LambdaSpec(
        "vendor",
        "functions.aws.services.vendor.handler",
        "api",
        "data",
        10,
        256,
        operations=("negotiateVendorTerms",),
    ),
    LambdaSpec(
        "volumes",
        "functions.aws.services.volumes.handler",
        "api",
        "data",
        10,
        256,
        operations=("listVolumes", "getVolume", "deleteVolume"),
    ),
    LambdaSpec(
        "ledger-sweeper",
        "functions.aws.ledger_sweeper.handler",
        "schedule",
        "core",
        120,
        256,
        schedule_minutes=5,
    ),
)

# operationId -> the Lambda that serves it (API Gateway integrations; in-process routing locally).
OPERATION_FUNCTIONS: Final[dict[str, str]] = {op: spec.name for spec in LAMBDAS for op in spec.operations}


def lambda_spec(name: str) -> LambdaSpec:
    """The spec of one Lambda by name; ``KeyError`` naming it when there is none."""
    for spec in LAMBDAS:
        if spec.name == name:
            return spec
    raise KeyError(f"no Lambda named {name!r}")
