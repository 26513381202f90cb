"""The stack configuration, read once into frozen, validated objects.

Every key the program reads is declared here and committed in ``Pulumi.<stack>.yaml``; components
receive these objects through their ``Args`` and never call ``pulumi.Config()``. A missing or invalid
key raises :class:`~agentcage.errors.ConfigurationError` whose message names the key (for example
``agentcage:budget.defaults.tokens``), so ``pulumi preview`` fails before any resource is planned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from agentcage.constants import AGENTS_DIR_ENV
from agentcage.errors import ConfigurationError
from agentcage.tools.catalog import data_directory
from infra.config_models import (
    CLOUDWATCH_RETENTION_DAYS,
    AccessSettings,
    AlarmSettings,
    ApprovalSettings,
    BreakerSettings,
    BudgetAmounts,
    BudgetSettings,
    DataProtection,
    FunctionAppSettings,
    LambdaSettings,
    ModelAccountSettings,
    ModelPriceSettings,
    ModelSettings,
    QueueConcurrency,
    ReservedConcurrency,
    RetentionSettings,
    https_url,
)

__all__ = [
    "PROJECT",
    "NAMESPACE",
    "REQUIRED_KEYS",
    "OPTIONAL_KEYS",
    "SECRET_KEYS",
    "CLOUDWATCH_RETENTION_DAYS",
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
    "StackConfig",
    "deployed_agents",
    "parse_config",
    "load_stack_config",
]

PROJECT = "agentcage"
NAMESPACE = "agentcage"

_ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]{1,11}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ANY_AGENT = "*"  # as an MCP caller: any authenticated caller; as its agents: every agent


# key (without namespace) -> model; every one is required and committed in each stack file.
_STRUCTURED: dict[str, type[BaseModel]] = {
    "model": ModelSettings,
    "budget": BudgetSettings,
    "breaker": BreakerSettings,
    "approvals": ApprovalSettings,
    "retention": RetentionSettings,
    "alarms": AlarmSettings,
    "lambda": LambdaSettings,
    "functionApp": FunctionAppSettings,
    "dataProtection": DataProtection,
}
REQUIRED_KEYS: tuple[str, ...] = (
    "aws:region",
    "azure-native:location",
    f"{NAMESPACE}:environment",
    f"{NAMESPACE}:entraTenantId",
    *(f"{NAMESPACE}:{key}" for key in _STRUCTURED),
)
OPTIONAL_KEYS: tuple[str, ...] = (
    f"{NAMESPACE}:federationAudience",
    f"{NAMESPACE}:approvalWebhookUrl",
    # Account-wide singletons, when dev and prod share one AWS account (infra/DEPLOY.md):
    f"{NAMESPACE}:existingOidcProviderArn",  # use this provider instead of creating one
    f"{NAMESPACE}:oidcProviderExtraAudiences",  # other stacks' audiences the created provider accepts
    f"{NAMESPACE}:manageApiGatewayAccount",  # set API Gateway's account CloudWatch role (default true)
    f"{NAMESPACE}:mcpCallers",  # who may use which agent through the MCP gateway (default: nobody)
    f"{NAMESPACE}:access",  # approver/auditor roles, requester authority, trusted automations
)
SECRET_KEYS: tuple[str, ...] = (f"{NAMESPACE}:approvalWebhookUrl",)


@dataclass(frozen=True)
class StackConfig:
    """Everything the program reads from the stack configuration, validated."""

    environment: str
    aws_region: str
    azure_location: str
    entra_tenant_id: str
    # The app ID URI the coordinator's AWS tokens are issued for; None: api://<the federation app's
    # client id>, the one form every tenant's identifier-URI policy accepts (set after the app exists).
    federation_audience: str | None
    model: ModelSettings
    budget: BudgetSettings
    breaker: BreakerSettings
    approvals: ApprovalSettings
    retention: RetentionSettings
    alarms: AlarmSettings
    lambda_: LambdaSettings
    function_app: FunctionAppSettings
    data_protection: DataProtection
    # Plain text only inside this process; the program wraps it in pulumi.Output.secret at once.
    approval_webhook_url: str | None
    existing_oidc_provider_arn: str | None = None
    oidc_provider_extra_audiences: tuple[str, ...] = ()
    manage_api_gateway_account: bool = True
    # MCP gateway callers: Entra object id of a person, or client id of a trusted automation (or
    # "*": any caller App Service Authentication let in) -> the agents it may use (("*",): every one).
    mcp_callers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The roles the code reads (the app registration's app roles) and what they may do; unset: the
    # code's own defaults.
    access: AccessSettings = field(default_factory=AccessSettings)

    @property
    def prefix(self) -> str:
        """The name every resource of this stack starts with (``agentcage-dev``)."""
        return f"{PROJECT}-{self.environment}"

    @property
    def tags(self) -> dict[str, str]:
        """The tags every taggable resource carries."""
        return {"project": PROJECT, "environment": self.environment}

    def budget_document(self) -> dict[str, Any]:
        """The budget file the functions load (``AGENTCAGE_BUDGET_CONFIG``), as plain data.

        Validated by the library's own :class:`agentcage.budget.config.BudgetConfig`, so infra and
        the functions cannot disagree about its shape.
        """
        from agentcage.budget.config import BudgetConfig

        document = {
            "defaults": self.budget.defaults.model_dump(),
            "ceiling": self.budget.ceiling.model_dump(),
            "prices": {name: price.model_dump() for name, price in self.budget.prices.items()},
            "loop_threshold": self.budget.loop_threshold,
            "breaker": self.breaker.model_dump(),
        }
        try:
            validated = BudgetConfig.model_validate(document)
        except ValidationError as exc:
            raise _fail(f"{NAMESPACE}:budget", str(exc.errors()[0]["msg"])) from None
        dumped: dict[str, Any] = validated.model_dump(mode="json", include=set(document))
        return dumped

    def mcp_callers_document(self) -> str:
        """The gateway's caller mapping as the app setting holds it (``AGENTCAGE_MCP_CALLERS``, the
        JSON :class:`agentcage.mcp.McpSettings` reads): ``"*"`` for every agent, else a list."""
        document = {
            caller: ANY_AGENT if agents == (ANY_AGENT,) else list(agents)
            for caller, agents in sorted(self.mcp_callers.items())
        }
        return json.dumps(document, separators=(",", ":"))

    @property
    def is_production(self) -> bool:
        """True for the prod stack (alarms, point-in-time recovery and deletion guards are on)."""
        return self.environment == "prod"


def _fail(key: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"config {key}: {problem}", details={"key": key})


def _flag(key: str, raw: Any, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text not in ("true", "false"):
        raise _fail(key, "must be true or false")
    return text == "true"


def _audiences(key: str, raw: Any) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, list) or not all(isinstance(a, str) for a in data):
        raise _fail(key, "must be a list of app ID URIs")
    bad = [a for a in data if not a.startswith(("api://", "https://"))]
    if bad:
        raise _fail(key, f"must hold app ID URIs (api://... or https://...), not {bad[0]!r}")
    return tuple(data)


def _federation_audience(key: str, raw: Any, tenant: str) -> str | None:
    # Entra's default identifier-URI policy refuses api://<name> URIs that carry no unique tenant
    # identifier; an api:// audience set here must therefore start with this tenant's id (an https://
    # one must be on a verified domain, which only Entra can check).
    if raw is None or raw == "":
        return None
    audience = str(raw)
    if audience.startswith("https://"):
        return audience
    if not audience.startswith(f"api://{tenant}/") or audience == f"api://{tenant}/":
        raise _fail(
            key,
            f"must be api://{tenant}/<name> or an https:// URI on a verified domain of the tenant "
            "(Entra refuses other app ID URIs); leave it unset to use api://<application client id>",
        )
    return audience


def _provider_arn(key: str, raw: Any, tenant: str) -> str | None:
    if raw is None or raw == "":
        return None
    arn = str(raw)
    expected = re.compile(rf"^arn:aws[a-z-]*:iam::\d{{12}}:oidc-provider/sts\.windows\.net/{tenant}/$")
    if not expected.match(arn):
        raise _fail(
            key,
            f"must be the ARN of this tenant's provider (arn:aws:iam::<account>:oidc-provider/"
            f"sts.windows.net/{tenant}/), not {arn!r}",
        )
    return arn


def deployed_agents() -> frozenset[str]:
    """The agent ids the Function App ships (one ``<id>.yaml`` each in the library's agents folder)."""
    return frozenset(path.stem for path in data_directory(None, AGENTS_DIR_ENV, "agents").glob("*.yaml"))


def _mcp_callers(key: str, raw: Any) -> dict[str, tuple[str, ...]]:
    """Caller id -> agents, each caller an Entra id (a UUID) or ``*``, each agent one the app ships."""
    if raw is None or raw == "":
        return {}
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise _fail(key, f"is not a YAML/JSON object ({exc.msg})") from None
    if not isinstance(data, dict):
        raise _fail(key, 'must map caller ids to agents: {"<Entra object or client id>": ["<agent>"]}')
    agents_known = deployed_agents()
    callers: dict[str, tuple[str, ...]] = {}
    for caller, agents in data.items():
        caller_id = str(caller).strip().lower()
        if caller_id != ANY_AGENT and not _UUID.match(caller_id):
            raise _fail(
                f"{key}.{caller}",
                "must be an Entra object id (a person) or client id (a trusted automation), or *",
            )
        if agents == ANY_AGENT:
            chosen: tuple[str, ...] = (ANY_AGENT,)
        elif isinstance(agents, list) and all(isinstance(agent, str) for agent in agents):
            chosen = tuple(dict.fromkeys(agents))
        else:
            raise _fail(f"{key}.{caller}", "must be a list of agent ids, or * for every agent")
        unknown = sorted(set(chosen) - agents_known - {ANY_AGENT})
        if unknown:
            raise _fail(
                f"{key}.{caller}", f"names no deployed agent: {unknown[0]!r} (known: {sorted(agents_known)})"
            )
        if caller_id in callers:
            raise _fail(f"{key}.{caller}", "is listed twice")
        callers[caller_id] = chosen
    return callers


def _access(key: str, raw: Any) -> AccessSettings:
    """``agentcage:access``, else the code's defaults."""
    if raw is None or raw == "":
        return AccessSettings()
    parsed: AccessSettings = _structured(key, raw, AccessSettings)
    return parsed


def _structured(key: str, raw: str, model: type[BaseModel]) -> Any:
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise _fail(key, f"is not a YAML/JSON object ({exc.msg})") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        full_key = f"{key}.{where}" if where else key
        raise _fail(full_key, first["msg"]) from None


def parse_config(values: Mapping[str, Any], secret_keys: frozenset[str] | set[str]) -> StackConfig:
    """Validate raw stack configuration (``namespace:key`` -> value) into a :class:`StackConfig`.

    Structured values may be JSON strings (how the Pulumi engine passes them) or already-parsed
    objects. ``secret_keys`` lists the keys the engine holds encrypted; a secret set in plain text
    is refused, because the stack file would then carry it in the clear.
    """
    missing = [key for key in REQUIRED_KEYS if values.get(key) in (None, "")]
    if missing:
        also = f" (also missing: {', '.join(missing[1:])})" if missing[1:] else ""
        raise _fail(missing[0], f"is required but not set{also}")
    known = {*REQUIRED_KEYS, *OPTIONAL_KEYS}
    unknown = sorted(key for key in values if key.startswith(f"{NAMESPACE}:") and key not in known)
    if unknown:
        raise _fail(unknown[0], "is not a key this program reads (a typo?)")
    environment = str(values[f"{NAMESPACE}:environment"])
    if not _ENVIRONMENT_NAME.match(environment):
        raise _fail(
            f"{NAMESPACE}:environment", "must be 2-12 lowercase letters/digits, starting with a letter"
        )
    tenant = str(values[f"{NAMESPACE}:entraTenantId"]).lower()
    if not _UUID.match(tenant):
        raise _fail(f"{NAMESPACE}:entraTenantId", "must be the Entra tenant id (a UUID)")
    audience = _federation_audience(
        f"{NAMESPACE}:federationAudience", values.get(f"{NAMESPACE}:federationAudience"), tenant
    )
    webhook_key = f"{NAMESPACE}:approvalWebhookUrl"
    webhook = values.get(webhook_key)
    if webhook is not None:
        if webhook_key not in secret_keys:
            raise _fail(webhook_key, "holds a token: set it with `pulumi config set --secret`")
        try:
            https_url(str(webhook))
        except ValueError as exc:
            raise _fail(webhook_key, str(exc)) from None
    parsed = {
        key: _structured(f"{NAMESPACE}:{key}", values[f"{NAMESPACE}:{key}"], model)
        for key, model in _STRUCTURED.items()
    }
    model, budget = parsed["model"], parsed["budget"]
    if model.provider != "scripted" and model.deployment not in budget.prices:
        raise _fail(
            f"{NAMESPACE}:budget.prices",
            f"has no price for the model deployment {model.deployment!r}; its cost could not be bounded",
        )
    existing_provider = _provider_arn(
        f"{NAMESPACE}:existingOidcProviderArn", values.get(f"{NAMESPACE}:existingOidcProviderArn"), tenant
    )
    extra_audiences = _audiences(
        f"{NAMESPACE}:oidcProviderExtraAudiences", values.get(f"{NAMESPACE}:oidcProviderExtraAudiences")
    )
    if existing_provider and extra_audiences:
        raise _fail(
            f"{NAMESPACE}:oidcProviderExtraAudiences",
            "belongs on the stack that creates the provider, not on one using existingOidcProviderArn",
        )
    config = StackConfig(
        environment=environment,
        aws_region=str(values["aws:region"]),
        azure_location=str(values["azure-native:location"]),
        entra_tenant_id=tenant,
        federation_audience=audience,
        model=parsed["model"],
        budget=parsed["budget"],
        breaker=parsed["breaker"],
        approvals=parsed["approvals"],
        retention=parsed["retention"],
        alarms=parsed["alarms"],
        lambda_=parsed["lambda"],
        function_app=parsed["functionApp"],
        data_protection=parsed["dataProtection"],
        approval_webhook_url=None if webhook is None else str(webhook),
        existing_oidc_provider_arn=existing_provider,
        oidc_provider_extra_audiences=extra_audiences,
        manage_api_gateway_account=_flag(
            f"{NAMESPACE}:manageApiGatewayAccount", values.get(f"{NAMESPACE}:manageApiGatewayAccount"), True
        ),
        mcp_callers=_mcp_callers(f"{NAMESPACE}:mcpCallers", values.get(f"{NAMESPACE}:mcpCallers")),
        access=_access(f"{NAMESPACE}:access", values.get(f"{NAMESPACE}:access")),
    )
    config.budget_document()  # fails now, naming the key, rather than in a function at run time
    return config


def load_stack_config(
    read: Callable[[str], Any] | None = None, is_secret: Callable[[str], bool] | None = None
) -> StackConfig:
    """Read every declared key from the running Pulumi program's configuration, once."""
    if read is None or is_secret is None:
        import pulumi.runtime

        read = read or pulumi.runtime.get_config
        is_secret = is_secret or pulumi.runtime.is_config_secret
    keys = (*REQUIRED_KEYS, *OPTIONAL_KEYS)
    values = {key: read(key) for key in keys}
    secrets = frozenset(key for key in keys if is_secret(key))
    return parse_config(values, secrets)
