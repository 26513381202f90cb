"""A package re-exports only what its modules declare public: each name in a package's ``__all__``
that is defined in one of its modules is in that module's ``__all__`` too (``from module import *``
and documentation tools read the module's list)."""

from __future__ import annotations

import importlib
import sys

import pytest

PACKAGES = [
    "agentcage.trace",
    "agentcage.envelopes",
    "agentcage.tools",
    "agentcage.inspect",
    "agentcage.policy",
    "agentcage.gate",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_reexported_name_is_in_its_modules_all(name: str) -> None:
    package = importlib.import_module(name)
    missing = []
    for exported in package.__all__:
        defined_in = getattr(getattr(package, exported), "__module__", None)
        if not isinstance(defined_in, str) or not defined_in.startswith(name + "."):
            continue  # a constant or a type alias: its home module is not recorded
        module = sys.modules[defined_in]
        if exported not in getattr(module, "__all__", ()):
            missing.append(f"{defined_in}.{exported}")
    assert missing == []
