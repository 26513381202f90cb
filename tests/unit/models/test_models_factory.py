"""provider_from_config: explicit argument, then environment variable, then the scripted default."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from azure.core.credentials import AccessToken

from agentcage.constants import (
    MODEL_BASE_URL_ENV,
    MODEL_DEPLOYMENT_ENV,
    MODEL_ENDPOINT_ENV,
    MODEL_PROVIDER_ENV,
    MODEL_TIMEOUT_ENV,
)
from agentcage.errors import ConfigurationError
from agentcage.models import (
    AzureOpenAIProvider,
    BedrockProvider,
    OpenAICompatibleProvider,
    ScriptedModel,
    provider_from_config,
)


class StaticCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("t", int(time.time()) + 3600)


def test_default_is_the_scripted_offline_model() -> None:
    provider = provider_from_config(environ={})

    assert isinstance(provider, ScriptedModel)


def test_environment_selects_an_openai_compatible_endpoint() -> None:
    env = {
        MODEL_PROVIDER_ENV: "openai",
        MODEL_BASE_URL_ENV: "http://127.0.0.1:11434/v1",
        MODEL_DEPLOYMENT_ENV: "llama3.1:8b",
        MODEL_TIMEOUT_ENV: "12.5",
    }

    provider = provider_from_config(environ=env)

    assert isinstance(provider, OpenAICompatibleProvider)
    assert (provider.base_url, provider.model, provider.timeout) == (
        "http://127.0.0.1:11434/v1",
        "llama3.1:8b",
        12.5,
    )


def test_explicit_arguments_win_over_the_environment() -> None:
    env = {
        MODEL_PROVIDER_ENV: "openai",
        MODEL_ENDPOINT_ENV: "https://ignored.example",
        MODEL_DEPLOYMENT_ENV: "x",
    }

    provider = provider_from_config(
        "azure_openai",
        endpoint="https://agentcage.openai.azure.com",
        deployment="gpt-4o",
        credential=StaticCredential(),  # type: ignore[arg-type]
        environ=env,
    )

    assert isinstance(provider, AzureOpenAIProvider)
    assert (provider.endpoint, provider.deployment) == ("https://agentcage.openai.azure.com", "gpt-4o")


def test_bedrock_uses_the_injected_client() -> None:
    client = boto3.client("bedrock-runtime", region_name="eu-west-1")

    provider = provider_from_config("bedrock", deployment="amazon.nova-pro-v1:0", client=client, environ={})

    assert isinstance(provider, BedrockProvider)
    assert provider.model == "amazon.nova-pro-v1:0"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({MODEL_PROVIDER_ENV: "gpt-oracle"}, "unknown model provider"),
        ({MODEL_PROVIDER_ENV: "openai", MODEL_DEPLOYMENT_ENV: "m"}, MODEL_BASE_URL_ENV),
        ({MODEL_PROVIDER_ENV: "azure_openai", MODEL_DEPLOYMENT_ENV: "m"}, MODEL_ENDPOINT_ENV),
        ({MODEL_PROVIDER_ENV: "bedrock"}, MODEL_DEPLOYMENT_ENV),
        ({MODEL_TIMEOUT_ENV: "soon"}, MODEL_TIMEOUT_ENV),
    ],
)
def test_incomplete_configuration_names_what_is_missing(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        provider_from_config(credential=StaticCredential(), environ=env)  # type: ignore[arg-type]
