"""Constrained toolsets: the OpenAPI catalog as tools, their argument validation, and agents.

An agent sees only the operations its definition names. Each operation is a :class:`Tool` with its
effect (read, write, destructive), data classes, egress flag and cost, the schema the model sees
(OpenAI and Bedrock Converse shapes), a validator that lists every problem with proposed arguments,
and the request builder the executor uses.
"""

from agentcage.tools.agents import AgentBudget, AgentDefinition, check_references, load_agents, parse_agent
from agentcage.tools.catalog import Catalog, data_directory, tools_of
from agentcage.tools.openapi import OpenAPIDocument, TargetSpec, load_document, parse_document, resolve_refs
from agentcage.tools.tool import BODY_ARGUMENT, Effect, Tool, effect_of
from agentcage.tools.validation import ArgumentValidator, Problem, to_json_schema

__all__ = [
    # catalog
    "Catalog",
    "Tool",
    "Effect",
    "TargetSpec",
    "BODY_ARGUMENT",
    "effect_of",
    "tools_of",
    "data_directory",
    # OpenAPI documents
    "OpenAPIDocument",
    "load_document",
    "parse_document",
    "resolve_refs",
    # argument validation
    "ArgumentValidator",
    "Problem",
    "to_json_schema",
    # agents
    "AgentDefinition",
    "AgentBudget",
    "load_agents",
    "parse_agent",
    "check_references",
]
