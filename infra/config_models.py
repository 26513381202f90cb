"""The typed sections of the stack configuration (one pydantic model per structured key).

camelCase in ``Pulumi.<stack>.yaml``, snake_case in Python; every model is frozen and rejects unknown
keys, so a typo fails with the key's name instead of being ignored.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from agentcage.constants import (
    APPROVER_ROLES_ENV,
    AUDITOR_ROLES_ENV,
    REQUESTER_AUTHORITY_ENV,
    TRUSTED_AUTOMATIONS_ENV,
)
from agentcage.coordinator.access import DEFAULT_APPROVER_ROLES, DEFAULT_AUDITOR_ROLES
from agentcage.policy.authority import DEFAULT_ROLE_AUTHORITY, RequesterAuthority, RoleAuthority

__all__ = [
    "CLOUDWATCH_RETENTION_DAYS",
    "FLEX_INSTANCE_MEMORY_MB",
    "ModelAccountSettings",
    "ModelSettings",
    "BudgetAmounts",
    "ModelPriceSettings",
    "BudgetSettings",
    "BreakerSettings",
    "ApprovalSettings",
    "RetentionSettings",
    "AlarmSettings",
    "QueueConcurrency",
    "ReservedConcurrency",
    "LambdaSettings",
    "FunctionAppSettings",
    "DataProtection",
    "AccessSettings",
    "https_url",
]

# The values CloudWatch Logs accepts for retentionInDays (anything else is rejected at deploy time).
CLOUDWATCH_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
# The instance sizes a Flex Consumption app may run on (MB); the platform rejects any other value.
FLEX_INSTANCE_MEMORY_MB = (512, 2048, 4096)
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# An Entra app role's value (the `roles` claim): no spaces, not starting with a dot, at most 120
# characters; narrowed here to what is also safe in the comma-separated app settings (no commas).
_ROLE = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,119}$"
_CLIENT_ID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
RESERVED_ROLE_VALUES = frozenset({"tasks"})
"""The API's delegated scope: Entra keeps app role and scope values in one namespace."""
RoleName = Annotated[str, Field(pattern=_ROLE)]


def https_url(value: str) -> str:
    """``value`` if it is an https:// URL with a host; ValueError otherwise."""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError("must be an https:// URL")
    return value


class _Model(BaseModel):
    """camelCase keys in YAML, snake_case in Python; unknown keys are typos and fail."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=False
    )


class ModelAccountSettings(_Model):
    """The Azure OpenAI account and model deployment the stack creates (``agentcage:model.create``)."""

    model: str = Field(min_length=1)  # the model's name in Azure OpenAI (gpt-4o-mini)
    version: str = Field(min_length=1)  # pinned, so a redeploy never changes the model under a task
    sku: Literal["GlobalStandard", "DataZoneStandard", "Standard"] = "GlobalStandard"
    capacity: int = Field(ge=1, le=10_000)  # thousands of tokens per minute, drawn from the quota


class ModelSettings(_Model):
    """Which model the coordinator calls: endpoint and deployment only; identity, never a key.

    For ``azure_openai`` the coordinator authenticates with its managed identity, so it needs
    "Cognitive Services OpenAI User" on the account: either the stack creates the account and the
    deployment (``create``, and the endpoint is the created account's), or it uses an existing one
    named by both ``endpoint`` and ``resourceId`` (the scope of the grant).
    """

    provider: Literal["scripted", "azure_openai", "openai", "bedrock"]
    endpoint: str | None = None
    deployment: str | None = None
    # An existing Azure OpenAI account's resource id: the coordinator identity gets
    # "Cognitive Services OpenAI User" on exactly that account.
    resource_id: str | None = None
    create: ModelAccountSettings | None = None

    @model_validator(mode="after")
    def _endpoint_when_remote(self) -> ModelSettings:
        if self.provider == "openai" and not self.endpoint:
            raise ValueError("endpoint is required for provider openai")
        if self.endpoint:
            https_url(self.endpoint)
        if self.provider in ("azure_openai", "bedrock") and not self.deployment:
            raise ValueError(f"deployment is required for provider {self.provider}")
        if self.resource_id is not None and not self.resource_id.startswith("/subscriptions/"):
            raise ValueError("resourceId must be an Azure resource id (/subscriptions/...)")
        if self.provider != "azure_openai":
            if self.create is not None or self.resource_id is not None:
                raise ValueError("create and resourceId apply to provider azure_openai only")
            return self
        if self.create is not None:
            if self.endpoint or self.resource_id:
                raise ValueError(
                    "create makes the account, so endpoint and resourceId must not be set with it"
                )
        elif not (self.endpoint and self.resource_id):
            # Without a resource to grant on, the coordinator's identity has no role on the account
            # and every model call would be refused with 401/403.
            raise ValueError(
                "provider azure_openai needs create (the stack makes the account and deployment) or "
                "both endpoint and resourceId of an existing account, so its identity can be granted "
                "Cognitive Services OpenAI User on it"
            )
        return self

    def app_settings(self) -> dict[str, str]:
        """The coordinator settings agentcage.models reads for this provider (names from constants).

        With ``create``, the endpoint is the created account's and is added by the program.
        """
        from agentcage import constants

        settings: dict[str, str] = {constants.MODEL_PROVIDER_ENV: self.provider}
        if self.endpoint:
            # Azure OpenAI takes an endpoint; an OpenAI-compatible server takes a base URL.
            key = constants.MODEL_BASE_URL_ENV if self.provider == "openai" else constants.MODEL_ENDPOINT_ENV
            settings[key] = self.endpoint
        if self.deployment:
            settings[constants.MODEL_DEPLOYMENT_ENV] = self.deployment
        return settings


class BudgetAmounts(_Model):
    """Per-task limits, in the units of ``agentcage.budget.config.LimitValues``."""

    tokens: int = Field(gt=0)
    cost_micro_usd: int = Field(gt=0)
    model_steps: int = Field(gt=0)
    tool_calls: int = Field(gt=0)
    deadline_seconds: int = Field(gt=0, le=86_400)


class ModelPriceSettings(_Model):
    """US dollars per million tokens; without a price a model call's cost cannot be bounded."""

    input_usd_per_million: Decimal = Field(ge=0)
    output_usd_per_million: Decimal = Field(ge=0)


class BudgetSettings(_Model):
    """What a task gets unless it asks otherwise, the ceiling no task may pass, and model prices."""

    defaults: BudgetAmounts
    ceiling: BudgetAmounts
    prices: dict[str, ModelPriceSettings]
    loop_threshold: int = Field(ge=2, le=100)

    @model_validator(mode="after")
    def _defaults_within_ceiling(self) -> BudgetSettings:
        over = [
            name
            for name in BudgetAmounts.model_fields
            if getattr(self.defaults, name) > getattr(self.ceiling, name)
        ]
        if over:
            raise ValueError(f"defaults exceed the ceiling for: {', '.join(to_camel(n) for n in over)}")
        return self


class BreakerSettings(_Model):
    """Per-tool circuit breaker: consecutive failures that open it, how long it stays open."""

    failure_threshold: int = Field(ge=1, le=100)
    cooldown_seconds: int = Field(ge=1, le=3600)
    probe_timeout_seconds: int = Field(ge=1, le=3600)


class ApprovalSettings(_Model):
    """How approvals are announced; the webhook URL itself is the secret ``approvalWebhookUrl``."""

    webhook_format: Literal["slack", "teams"]


class RetentionSettings(_Model):
    """How long logs are kept on each side."""

    log_days: int
    workspace_days: int = Field(ge=30, le=730)

    @model_validator(mode="after")
    def _cloudwatch_value(self) -> RetentionSettings:
        if self.log_days not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(f"logDays must be one of {sorted(CLOUDWATCH_RETENTION_DAYS)}")
        return self


class AlarmSettings(_Model):
    """Alarms on both clouds and who they notify."""

    enabled: bool
    emails: tuple[Annotated[str, Field(pattern=_EMAIL)], ...] = ()

    @model_validator(mode="after")
    def _targets_when_enabled(self) -> AlarmSettings:
        if self.enabled and not self.emails:
            raise ValueError("emails must name at least one target when alarms are enabled")
        return self


class QueueConcurrency(_Model):
    """How many copies of each queue consumer may run at once (SQS event source maximum concurrency).

    This is the runaway ceiling: a flood of messages waits in the queue instead of fanning out, and
    unlike reserved concurrency it draws on no account quota (a new account has only 10).
    """

    executor: int = Field(ge=2, le=1000)
    bridge: int = Field(ge=2, le=1000)
    dead_letters: int = Field(default=2, ge=2, le=1000)  # per dead-letter queue


class ReservedConcurrency(_Model):
    """Reserved concurrency per Lambda group: a guarantee carved out of the account's quota.

    Optional: AWS keeps 100 of the quota unreserved, so an account with the default quota of 10 (or
    1000 shared with other workloads) cannot grant it. The queue concurrency ceilings hold either way.
    """

    executor: int = Field(ge=1, le=1000)
    bridge: int = Field(ge=1, le=1000)
    services: int = Field(ge=1, le=1000)


class LambdaSettings(_Model):
    """Per-stack Lambda settings; ``architecture`` also selects the wheels that are packaged.

    Memory and timeout are per function and live in the Lambda manifest (functions/aws/manifest.py),
    beside the handler they belong to. Runaway protection needs no reserved concurrency: the queue
    consumers are capped by ``queueConcurrency``, the data services are called only by those capped
    consumers (and the coordinator's target reads) through an API Gateway stage that throttles.
    """

    architecture: Literal["arm64", "x86_64"]
    queue_concurrency: QueueConcurrency
    reserved_concurrency: ReservedConcurrency | None = None
    # How often the ledger sweeper returns abandoned reservations (functions/aws/ledger_sweeper.py).
    ledger_sweep_minutes: int = Field(default=5, ge=1, le=1440)

    @model_validator(mode="after")
    def _reservation_covers_the_queue_ceiling(self) -> LambdaSettings:
        # A reservation below the event source's concurrency throttles the poller, and throttled
        # batches go back to the queue and on to the dead-letter queue.
        reserved = self.reserved_concurrency
        if reserved is not None:
            for group in ("executor", "bridge"):
                if getattr(reserved, group) < getattr(self.queue_concurrency, group):
                    raise ValueError(f"reservedConcurrency.{group} must be at least queueConcurrency.{group}")
        return self


class FunctionAppSettings(_Model):
    """Flex Consumption scale settings of the coordinator."""

    maximum_instance_count: int = Field(ge=1, le=1000)
    instance_memory_mb: int

    @field_validator("instance_memory_mb")
    @classmethod
    def _flex_instance_size(cls, value: int) -> int:
        if value not in FLEX_INSTANCE_MEMORY_MB:
            raise ValueError(f"must be one of {list(FLEX_INSTANCE_MEMORY_MB)} (the Flex Consumption sizes)")
        return value


class DataProtection(_Model):
    """Backups and accidental-deletion guards; on in prod."""

    point_in_time_recovery: bool
    deletion_protection: bool


class AccessSettings(_Model):
    """Who people are to the code (``agentcage:access``, optional): the roles that approve and audit,
    what each requester role may have an agent do, and the applications trusted to create tasks.

    Unset, every field is the code's own default (``agentcage.coordinator.access``,
    ``agentcage.policy.authority``): the app settings then say what the code would assume anyway, and
    the app registration defines exactly the roles the code reads. ``requesterAuthority`` is the
    library's own document (``{"<role>": {"refund_limit_cents": N, "environments": [...]}}``).
    """

    approver_roles: tuple[RoleName, ...] = Field(default=DEFAULT_APPROVER_ROLES, min_length=1)
    auditor_roles: tuple[RoleName, ...] = Field(default=DEFAULT_AUDITOR_ROLES, min_length=1)
    requester_authority: dict[RoleName, RoleAuthority] = Field(
        default_factory=lambda: dict(DEFAULT_ROLE_AUTHORITY), min_length=1
    )
    trusted_automations: tuple[Annotated[str, Field(pattern=_CLIENT_ID)], ...] = ()

    @model_validator(mode="after")
    def _no_scope_names(self) -> AccessSettings:
        clash = sorted(RESERVED_ROLE_VALUES & set(self.role_names()))
        if clash:
            raise ValueError(f"role {clash[0]!r} is the API's scope name; choose another role name")
        return self

    def role_names(self) -> tuple[str, ...]:
        """Every role the code reads: the app roles people are assigned (sorted, each once)."""
        return tuple(sorted({*self.approver_roles, *self.auditor_roles, *self.requester_authority}))

    def role_descriptions(self) -> dict[str, str]:
        """Each role and what holding it means here (shown when a person is assigned it)."""
        authority = RequesterAuthority(roles=self.requester_authority)
        descriptions = {}
        for role in self.role_names():
            parts = []
            if role in self.requester_authority:
                granted = authority.of([role])
                may = (
                    [f"refunds up to {granted.refund_limit_cents / 100:.2f}"]
                    if granted.refund_limit_cents
                    else []
                )
                if granted.environments:
                    may.append(f"deletes in {', '.join(sorted(granted.environments))}")
                parts.append(
                    f"Starts tasks; agents may make {'; '.join(may) or 'no refund or delete'} for them."
                )
            if role in self.approver_roles:
                parts.append("Sees and decides the calls waiting for approval.")
            if role in self.auditor_roles:
                parts.append("Reads every task (decides nothing by it).")
            descriptions[role] = " ".join(parts)
        return descriptions

    def app_settings(self) -> dict[str, str]:
        """The coordinator's settings the code reads these from (names from ``agentcage.constants``);
        deterministic, so an unchanged configuration never changes the app."""
        document = RequesterAuthority(roles=self.requester_authority).model_dump(mode="json")
        for limits in document["roles"].values():
            limits["environments"] = sorted(limits["environments"])  # a set: fix its order
        return {
            APPROVER_ROLES_ENV: ",".join(self.approver_roles),
            AUDITOR_ROLES_ENV: ",".join(self.auditor_roles),
            REQUESTER_AUTHORITY_ENV: json.dumps(document, sort_keys=True, separators=(",", ":")),
            TRUSTED_AUTOMATIONS_ENV: ",".join(sorted({c.lower() for c in self.trusted_automations})),
        }
