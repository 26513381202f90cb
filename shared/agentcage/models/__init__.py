"""Model providers behind one interface: ``ModelProvider.complete(messages, tools, max_tokens)``.

Azure OpenAI with an Entra token (:mod:`.azure_openai`), any OpenAI-compatible endpoint
(:mod:`.openai_chat`), Bedrock Converse (:mod:`.bedrock`) and the scripted offline model that plays the
demo scenarios (:mod:`.scripted`, :mod:`.scenarios`); :func:`provider_from_config` picks one from
configuration. The SDK-backed modules import their SDKs lazily, so importing this package stays cheap.
"""

from agentcage.models.azure_openai import (
    COGNITIVE_SERVICES_SCOPE,
    DEFAULT_AZURE_API_VERSION,
    AzureOpenAIProvider,
)
from agentcage.models.base import DEFAULT_TIMEOUT_S, ModelProvider, ModelRequest, RetryPolicy
from agentcage.models.bedrock import BedrockProvider, to_bedrock_tools, to_converse_messages
from agentcage.models.factory import PROVIDER_NAMES, provider_from_config
from agentcage.models.openai_chat import (
    LOCAL_PLACEHOLDER_API_KEY,
    ChatCompletionsProvider,
    OpenAICompatibleProvider,
    to_openai_messages,
)
from agentcage.models.scenarios import MARKER, SCENARIOS
from agentcage.models.scripted import SCRIPTED_MODEL_NAME, ScriptedModel
from agentcage.models.types import (
    AssistantMessage,
    Completion,
    FinishReason,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolResultStatus,
    Usage,
    UserMessage,
    estimate_tokens,
    normalize_tools,
    parse_messages,
    serialize_for_estimate,
)

__all__ = [
    # the interface
    "ModelProvider",
    "ModelRequest",
    "RetryPolicy",
    "DEFAULT_TIMEOUT_S",
    "provider_from_config",
    "PROVIDER_NAMES",
    # conversation and completion
    "Message",
    "SystemMessage",
    "UserMessage",
    "AssistantMessage",
    "ToolResultMessage",
    "ToolResultStatus",
    "ToolCall",
    "Usage",
    "Completion",
    "FinishReason",
    "parse_messages",
    "normalize_tools",
    "serialize_for_estimate",
    "estimate_tokens",
    # providers
    "AzureOpenAIProvider",
    "COGNITIVE_SERVICES_SCOPE",
    "DEFAULT_AZURE_API_VERSION",
    "ChatCompletionsProvider",
    "OpenAICompatibleProvider",
    "LOCAL_PLACEHOLDER_API_KEY",
    "to_openai_messages",
    "BedrockProvider",
    "to_bedrock_tools",
    "to_converse_messages",
    "ScriptedModel",
    "SCRIPTED_MODEL_NAME",
    "SCENARIOS",
    "MARKER",
]
