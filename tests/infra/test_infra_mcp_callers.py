"""agentcage:mcpCallers: who may use which agent through the MCP gateway, validated and deployed.

The key is optional (unset: nobody is let in, the committed stacks' state); when set, each caller is
an Entra id or ``*`` and each agent one the Function App ships, and the program hands the mapping to
the coordinator's app setting ``AGENTCAGE_MCP_CALLERS`` in the form the gateway reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_harness import DEPENDENCY_TARGETS, REPO_ROOT, RUNNER

from agentcage.constants import MCP_CALLERS_ENV
from agentcage.errors import ConfigurationError
from agentcage.mcp.settings import McpSettings
from infra.config import parse_config

KEY = "agentcage:mcpCallers"
PERSON = "5f1c0000-0000-0000-0000-0000000000a1"
AUTOMATION = "0a0b0c0d-1111-2222-3333-444455556666"


def _committed(stack: str = "dev") -> dict[str, Any]:
    return dict(yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"])


def _error(raw: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(_committed() | {KEY: raw}, frozenset())
    return caught.value


def test_unset_lets_nobody_in() -> None:
    config = parse_config(_committed(), frozenset())
    assert config.mcp_callers == {}
    assert config.mcp_callers_document() == "{}"


def test_callers_parse_as_the_engine_passes_them_and_read_back_as_the_gateway_reads_them() -> None:
    # GIVEN the key as `pulumi config set --path` leaves it (the engine hands structured values as JSON)
    raw = json.dumps({PERSON.upper(): ["returns-coordinator", "returns-coordinator"], AUTOMATION: "*"})
    # WHEN the stack configuration is parsed
    config = parse_config(_committed() | {KEY: raw}, frozenset())
    # THEN ids are normalised (Entra ids are lower case), duplicates dropped, "*" kept for every agent
    assert config.mcp_callers == {PERSON: ("returns-coordinator",), AUTOMATION: ("*",)}
    # AND the app setting is what the gateway's own settings parser reads back to the same mapping
    settings = McpSettings.from_env({MCP_CALLERS_ENV: config.mcp_callers_document()})
    assert dict(settings.callers) == {PERSON: ("returns-coordinator",), AUTOMATION: ("*",)}


@pytest.mark.parametrize(
    ("raw", "where", "problem"),
    [
        ("not json", KEY, "YAML/JSON object"),
        (json.dumps(["returns-coordinator"]), KEY, "must map caller ids"),
        (json.dumps({"rita@example.com": ["returns-coordinator"]}), f"{KEY}.rita@example.com", "Entra"),
        (json.dumps({PERSON: "returns-coordinator"}), f"{KEY}.{PERSON}", "list of agent ids"),
        (json.dumps({PERSON: [1]}), f"{KEY}.{PERSON}", "list of agent ids"),
        (json.dumps({PERSON: ["returns-cordinator"]}), f"{KEY}.{PERSON}", "names no deployed agent"),
        (json.dumps({PERSON: ["*"], PERSON.upper(): ["janitor-agent"]}), KEY, "listed twice"),
    ],
)
def test_an_invalid_mapping_fails_naming_the_key(raw: str, where: str, problem: str) -> None:
    error = _error(raw)
    assert where in str(error)
    assert problem in str(error)


def test_the_program_deploys_the_configured_mapping(tmp_path: Path) -> None:
    # GIVEN the dev stack with a person and an automation mapped to agents
    mapping = {PERSON: ["returns-coordinator"], AUTOMATION: "*"}
    out = tmp_path / "dev.json"
    for target in DEPENDENCY_TARGETS:  # pre-built dependency folders, as the session's runs have
        (tmp_path / "deps" / target).mkdir(parents=True)
    environ = {**os.environ, "AGENTCAGE_INFRA_DEPENDENCIES_DIR": str(tmp_path / "deps")}
    # WHEN the program runs under mocks
    process = subprocess.run(
        [sys.executable, str(RUNNER), "dev", str(out), f"plain:{KEY}={json.dumps(mapping)}"],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    # THEN the coordinator's app setting holds exactly that mapping
    [app] = [
        r
        for r in json.loads(out.read_text(encoding="utf-8"))["resources"]
        if r["type"] == "azure-native:web:WebApp"
    ]
    settings = {pair["name"]: pair["value"] for pair in app["inputs"]["siteConfig"]["appSettings"]}
    assert json.loads(settings[MCP_CALLERS_ENV]) == mapping
