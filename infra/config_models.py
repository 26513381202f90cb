"""The typed sections of the stack configuration (one pydantic model per structured key).

camelCase in ``Pulumi.<stack>.yaml``, snake_case in Python; every model is frozen and rejects unknown
keys, so a typo fails with the key's name instead of being ignored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "CLOUDWATCH_RETENTION_DAYS",
    "ModelSettings",
    "BudgetAmounts",
    "ModelPriceSettings",
    "BudgetSettings",
    "BreakerSettings",
    "ApprovalSettings",
    "RetentionSettings",
    "AlarmSettings",
    "ReservedConcurrency",
    "LambdaSettings",
    "FunctionAppSettings",
    "DataProtection",
    "https_url",
]

# The values CloudWatch Logs accepts for retentionInDays (anything else is rejected at deploy time).
CLOUDWATCH_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


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


class ModelSettings(_Model):
    """Which model the coordinator calls: endpoint and deployment only; identity, never a key."""

    provider: Literal["scripted", "azure_openai", "openai", "bedrock"]
    endpoint: str | None = None
    deployment: str | None = None
    # The Azure OpenAI account's resource id: when set, the coordinator identity gets
    # "Cognitive Services OpenAI User" on exactly that account.
    resource_id: str | None = None

    @model_validator(mode="after")
    def _endpoint_when_remote(self) -> ModelSettings:
        if self.provider in ("azure_openai", "openai"):
            if not self.endpoint:
                raise ValueError(f"endpoint is required for provider {self.provider}")
            https_url(self.endpoint)
        if self.provider in ("azure_openai", "bedrock") and not self.deployment:
            raise ValueError(f"deployment is required for provider {self.provider}")
        if self.resource_id is not None and not self.resource_id.startswith("/subscriptions/"):
            raise ValueError("resourceId must be an Azure resource id (/subscriptions/...)")
        return self

    def app_settings(self) -> dict[str, str]:
        """The coordinator settings agentcage.models reads for this provider (names from constants)."""
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


class ReservedConcurrency(_Model):
    """Reserved concurrency per Lambda group: a ceiling on blast radius as much as a guarantee."""

    executor: int = Field(ge=1, le=1000)
    bridge: int = Field(ge=1, le=1000)
    services: int = Field(ge=1, le=1000)


class LambdaSettings(_Model):
    """Per-stack Lambda settings; ``architecture`` also selects the wheels that are packaged.

    Memory and timeout are per function and live in the Lambda manifest (functions/aws/manifest.py),
    beside the handler they belong to.
    """

    architecture: Literal["arm64", "x86_64"]
    reserved_concurrency: ReservedConcurrency
    # How often the ledger sweeper returns abandoned reservations (functions/aws/ledger_sweeper.py).
    ledger_sweep_minutes: int = Field(default=5, ge=1, le=1440)


class FunctionAppSettings(_Model):
    """Flex Consumption scale settings of the coordinator."""

    maximum_instance_count: int = Field(ge=1, le=1000)
    instance_memory_mb: Literal[512, 2048, 4096]


class DataProtection(_Model):
    """Backups and accidental-deletion guards; on in prod."""

    point_in_time_recovery: bool
    deletion_protection: bool
