"""Agent definitions: the shipped ones load; a bad one fails naming what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agentcage.errors import AgentDefinitionError
from agentcage.tools import Catalog, load_agents

SHARED = Path(__file__).resolve().parents[3] / "shared"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_directory(SHARED / "catalog")


def _agent(**changes: Any) -> dict[str, Any]:
    agent = {
        "id": "tester",
        "role": "service_rep",
        "system_prompt": "test",
        "toolset": ["getCustomer"],
        "model": "gpt-4o-mini",
        "budget": {
            "max_tokens": 1,
            "max_cost_micro_usd": 1,
            "max_model_steps": 1,
            "max_tool_calls": 1,
            "deadline_seconds": 1,
        },
    }
    agent.update(changes)
    return agent


def _write(folder: Path, *agents: dict[str, Any]) -> Path:
    for agent in agents:
        (folder / f"{agent['id']}.yaml").write_text(yaml.safe_dump(agent))
    return folder


def test_shipped_agents_load_with_their_toolsets(catalog: Catalog) -> None:
    agents = load_agents(catalog, SHARED / "agents")
    assert {"returns-coordinator", "procurement-agent", "janitor-agent"} <= set(agents)
    coordinator = agents["returns-coordinator"]
    assert coordinator.role == "service_rep"
    assert coordinator.toolset == ("getCustomer", "listRecentOrders", "assessReturnException", "createRefund")
    assert coordinator.specialists
    assert agents["janitor-agent"].toolset == ("listVolumes", "getVolume", "deleteVolume")
    assert agents["procurement-agent"].toolset == ("negotiateVendorTerms",)


def test_unknown_operation_in_toolset_fails_the_load(catalog: Catalog, tmp_path: Path) -> None:
    _write(tmp_path, _agent(toolset=["getCustomer", "wipeEverything"]))
    with pytest.raises(AgentDefinitionError, match="wipeEverything"):
        load_agents(catalog, tmp_path)


def test_unknown_specialist_fails_the_load(catalog: Catalog, tmp_path: Path) -> None:
    _write(tmp_path, _agent(specialists=["ghost"]))
    with pytest.raises(AgentDefinitionError, match="ghost"):
        load_agents(catalog, tmp_path)


def test_id_must_match_the_file_name(catalog: Catalog, tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(_agent()))
    with pytest.raises(AgentDefinitionError, match="file name"):
        load_agents(catalog, tmp_path)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"toolset": []}, "toolset"),
        ({"role": "Bad Role"}, "role"),
        ({"toolset": ["getCustomer", "getCustomer"]}, "toolset"),
    ],
)
def test_invalid_definition_names_the_field(
    catalog: Catalog, tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    _write(tmp_path, _agent(**change))
    with pytest.raises(AgentDefinitionError, match=field):
        load_agents(catalog, tmp_path)
