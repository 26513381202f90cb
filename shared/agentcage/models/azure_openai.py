"""Azure OpenAI with an Entra token: the ``openai`` SDK's ``AzureOpenAI`` and an azure-identity provider.

There is no API key anywhere: the client gets ``azure_ad_token_provider`` from
``get_bearer_token_provider(credential, "https://cognitiveservices.azure.com/.default")``, so every
request carries ``Authorization: Bearer <Entra token>`` of the Function App's managed identity (which
needs the "Cognitive Services OpenAI User" role on the resource).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from agentcage.errors import InvalidInputError, ModelError
from agentcage.models.base import RetryPolicy
from agentcage.models.openai_chat import ChatCompletionsProvider

if TYPE_CHECKING:
    from collections.abc import Callable

    from azure.core.credentials import TokenCredential

__all__ = ["AzureOpenAIProvider", "COGNITIVE_SERVICES_SCOPE", "DEFAULT_AZURE_API_VERSION"]

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
"""The Entra scope Azure OpenAI accepts tokens for."""

DEFAULT_AZURE_API_VERSION = "2024-10-21"
"""The GA data-plane API version used unless another is configured."""


def _entra_token_provider(credential: TokenCredential) -> Callable[[], str]:
    """A bearer-token callable whose credential failures surface as a non-retryable ModelError."""
    from azure.core.exceptions import AzureError
    from azure.identity import get_bearer_token_provider

    fetch = get_bearer_token_provider(credential, COGNITIVE_SERVICES_SCOPE)

    def provide() -> str:
        try:
            return fetch()
        except AzureError as error:
            raise ModelError(
                f"could not get an Entra token for Azure OpenAI: {error.message}",
                details={"retryable": False},
            ) from error

    return provide


class AzureOpenAIProvider(ChatCompletionsProvider):
    """An Azure OpenAI deployment, authenticated with an Entra token (never an API key)."""

    provider = "azure_openai"

    def __init__(
        self,
        *,
        endpoint: str,
        deployment: str,
        credential: TokenCredential,
        api_version: str = DEFAULT_AZURE_API_VERSION,
        max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not endpoint or not endpoint.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise InvalidInputError(f"the Azure OpenAI endpoint must be an https URL, not {endpoint!r}")
        if not deployment:
            raise InvalidInputError("AzureOpenAIProvider needs a deployment name")
        import openai

        client = openai.AzureOpenAI(
            azure_endpoint=endpoint,
            azure_deployment=deployment,
            api_version=api_version,
            azure_ad_token_provider=_entra_token_provider(credential),
            max_retries=0,
        )
        self.endpoint = endpoint
        self.deployment = deployment
        super().__init__(
            client,
            model=deployment,
            max_tokens_param=max_tokens_param,
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            clock=clock,
        )
