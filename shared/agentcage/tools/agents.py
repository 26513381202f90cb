"""Agent definitions: who an agent is, what it may see, and what it may spend, as YAML files.

One file per agent in ``shared/agents/<id>.yaml``; the file name is the id. An agent whose toolset
names an operation the catalog does not define, or whose specialists name an unknown agent, fails
the load.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentcage.constants import AGENTS_DIR_ENV
from agentcage.errors import AgentDefinitionError
from agentcage.tools.catalog import Catalog, data_directory

__all__ = ["AgentBudget", "AgentDefinition", "check_references", "load_agents", "parse_agent"]

_ID = r"^[a-z][a-z0-9-]{1,62}$"


class AgentBudget(BaseModel):
    """The default limits of a task this agent runs (a task may be started with tighter ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(gt=0)
    max_cost_micro_usd: int = Field(gt=0, description="integer micro-dollars")
    max_model_steps: int = Field(gt=0)
    max_tool_calls: int = Field(gt=0)
    deadline_seconds: int = Field(gt=0)


class AgentDefinition(BaseModel):
    """An agent: id, role (its Cedar parent), system prompt, toolset, model, budget, specialists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    role: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    description: str = ""
    system_prompt: str = Field(min_length=1)
    toolset: tuple[str, ...] = Field(min_length=1)
    model: str = Field(min_length=1, description="the logical model name the provider maps")
    budget: AgentBudget
    specialists: tuple[str, ...] = ()

    @field_validator("toolset", "specialists")
    @classmethod
    def _unique(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(names)) != len(names):
            raise ValueError("names must be unique")
        return names

    def may_call(self, tool: str) -> bool:
        """Whether ``tool`` is in this agent's toolset."""
        return tool in self.toolset


def parse_agent(raw: Any, *, source: str = "<agent>") -> AgentDefinition:
    """Check one agent definition; :class:`AgentDefinitionError` names the field that is wrong."""
    try:
        return AgentDefinition.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "$"
        raise AgentDefinitionError(
            f"{source}: {where}: {first['msg']}", details={"source": source}
        ) from error


def check_references(agents: Mapping[str, AgentDefinition], catalog: Catalog) -> None:
    """Raise :class:`AgentDefinitionError` if an agent's toolset names an operation ``catalog``
    lacks, or a specialist is not another agent of ``agents``. The one place this is checked:
    :func:`load_agents` and the gate both call it."""
    for agent in agents.values():
        unknown = [name for name in agent.toolset if name not in catalog]
        if unknown:
            raise AgentDefinitionError(
                f"{agent.id}: toolset names unknown operations {unknown}", details={"agent": agent.id}
            )
        for specialist in agent.specialists:
            if specialist == agent.id or specialist not in agents:
                raise AgentDefinitionError(
                    f"{agent.id}: specialist {specialist!r} is not another known agent",
                    details={"agent": agent.id},
                )


def load_agents(
    catalog: Catalog, directory: str | os.PathLike[str] | None = None
) -> dict[str, AgentDefinition]:
    """Every ``*.yaml`` agent in ``directory`` (default: ``AGENTCAGE_AGENTS_DIR``, then
    ``shared/agents``), checked against ``catalog``."""
    folder = data_directory(directory, AGENTS_DIR_ENV, "agents")
    agents: dict[str, AgentDefinition] = {}
    for file in sorted(Path(folder).glob("*.yaml")):
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise AgentDefinitionError(f"{file.name}: cannot read: {error}") from error
        agent = parse_agent(raw, source=file.name)
        if agent.id != file.stem:
            raise AgentDefinitionError(f"{file.name}: id {agent.id!r} must match the file name")
        agents[agent.id] = agent
    if not agents:
        raise AgentDefinitionError(f"no agent definitions (*.yaml) in {folder}")
    check_references(agents, catalog)
    return agents
