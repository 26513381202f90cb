"""Each package's ``__all__`` is exactly its public API (the httpx convention)."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = ["agentcage.tools", "agentcage.policy", "agentcage.inspect", "agentcage.gate", "agentcage.cli"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    package = importlib.import_module(name)
    public = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType) and attr != "annotations"
    }
    assert set(package.__all__) == public
    assert len(package.__all__) == len(set(package.__all__))
