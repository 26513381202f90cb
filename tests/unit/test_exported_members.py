"""Every package's ``__all__`` names exactly what it exports, and each name resolves."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import agentcage


def _packages() -> list[str]:
    found = pkgutil.walk_packages(agentcage.__path__, prefix="agentcage.")
    return sorted(["agentcage", *(info.name for info in found if info.ispkg)])


def _public_names(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", module.__name__).startswith("agentcage")
        and name not in {"annotations", "TYPE_CHECKING"}
    }


@pytest.mark.parametrize("package", _packages())
def test_package_declares_all_and_every_name_resolves(package: str) -> None:
    module = importlib.import_module(package)

    exported = getattr(module, "__all__", None)

    assert exported is not None, f"{package} has no __all__"
    assert len(exported) == len(set(exported)), f"{package}.__all__ repeats a name"
    for name in exported:
        assert hasattr(module, name), f"{package}.__all__ names {name!r}, which does not exist"


@pytest.mark.parametrize("package", _packages())
def test_package_exports_nothing_public_outside_all(package: str) -> None:
    module = importlib.import_module(package)

    undeclared = _public_names(module) - set(getattr(module, "__all__", ())) - {"__version__"}

    assert not undeclared, f"{package} exports {sorted(undeclared)} without listing them in __all__"
