"""Build the configured model provider: explicit argument, then environment variable, then default.

The default is the scripted offline model, so a function or the local runtime with no model configured
runs offline and every thought record says so. Provider names: ``scripted``, ``azure_openai``,
``openai`` (any OpenAI-compatible ``base_url``), ``bedrock``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentcage.constants import (
    MODEL_API_VERSION_ENV,
    MODEL_BASE_URL_ENV,
    MODEL_DEPLOYMENT_ENV,
    MODEL_ENDPOINT_ENV,
    MODEL_PROVIDER_ENV,
    MODEL_REGION_ENV,
    MODEL_TIMEOUT_ENV,
)
from agentcage.errors import ConfigurationError
from agentcage.models.base import ModelProvider, RetryPolicy

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = ["provider_from_config", "PROVIDER_NAMES"]

PROVIDER_NAMES = ("scripted", "azure_openai", "openai", "bedrock")


def _pick(explicit: str | None, env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    if explicit:
        return explicit
    return env.get(name) or default


def _require(value: str | None, what: str, env_name: str, provider: str) -> str:
    if not value:
        raise ConfigurationError(f"the {provider} model provider needs {what} (argument or {env_name})")
    return value


def provider_from_config(
    provider: str | None = None,
    *,
    endpoint: str | None = None,
    deployment: str | None = None,
    base_url: str | None = None,
    api_version: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    credential: TokenCredential | None = None,
    client: Any | None = None,
    api_key: str | None = None,
    scenario: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ModelProvider:
    """The model provider named by ``provider`` or ``AGENTCAGE_MODEL_PROVIDER`` (default ``scripted``).

    ``deployment`` (or ``AGENTCAGE_MODEL_DEPLOYMENT``) is the Azure deployment, the OpenAI-compatible
    model name, or the Bedrock model id. ``credential`` is the Entra credential for Azure OpenAI (default
    azure-identity's ``DefaultAzureCredential``, the managed identity in the cloud); ``client`` an SDK
    client to use instead of building one. Raises ConfigurationError for an unknown provider or a missing
    setting.
    """
    env = os.environ if environ is None else environ
    name = (_pick(provider, env, MODEL_PROVIDER_ENV, "scripted") or "scripted").strip().lower()
    if timeout is None and env.get(MODEL_TIMEOUT_ENV):
        try:
            timeout = float(env[MODEL_TIMEOUT_ENV])
        except ValueError as error:
            raise ConfigurationError(f"{MODEL_TIMEOUT_ENV} must be a number of seconds") from error
    if name not in PROVIDER_NAMES:
        raise ConfigurationError(
            f"unknown model provider {name!r}; choose one of {', '.join(PROVIDER_NAMES)}"
        )
    if name == "scripted":
        from agentcage.models.scripted import ScriptedModel

        return ScriptedModel(scenario=scenario)
    model = _require(
        _pick(deployment, env, MODEL_DEPLOYMENT_ENV), "a deployment/model", MODEL_DEPLOYMENT_ENV, name
    )
    if name == "azure_openai":
        from agentcage.models.azure_openai import DEFAULT_AZURE_API_VERSION, AzureOpenAIProvider

        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return AzureOpenAIProvider(
            endpoint=_require(
                _pick(endpoint, env, MODEL_ENDPOINT_ENV), "an endpoint", MODEL_ENDPOINT_ENV, name
            ),
            deployment=model,
            credential=credential,
            api_version=_pick(api_version, env, MODEL_API_VERSION_ENV, DEFAULT_AZURE_API_VERSION) or "",
            timeout=timeout,
            retry=retry,
        )
    if name == "openai":
        from agentcage.models.openai_chat import OpenAICompatibleProvider

        url = _require(_pick(base_url, env, MODEL_BASE_URL_ENV), "a base_url", MODEL_BASE_URL_ENV, name)
        return OpenAICompatibleProvider(
            base_url=url, model=model, api_key=api_key, client=client, timeout=timeout, retry=retry
        )
    from agentcage.models.bedrock import BedrockProvider

    return BedrockProvider(
        model_id=model,
        client=client,
        region=_pick(region, env, MODEL_REGION_ENV),
        timeout=timeout,
        retry=retry,
    )
