"""Which first-party modules an artifact ships: the import closure of its entry points, read with ``ast``.

An artifact holds the modules its entry points can reach and nothing else, so the local runtime, the
CLI and test helpers stay out without a list of what to leave behind. Every ``import`` counts, at
module level or inside a function (a lazy import still runs in the cloud), except those under
``if TYPE_CHECKING:``. Three rules make the boundary explicit:

- a module under an *excluded* prefix (``agentcage.local``, ``agentcage.cli``, test helpers) is never
  shipped: imported at module level it is a build error; imported lazily it is left out, and the
  feature that needs it is unavailable in that artifact (it raises ``ImportError`` on use);
- the library (``agentcage``) imports nothing from ``functions`` or ``tests``, lazily or not;
- an import of a first-party root that names no module file is a build error.

Third-party imports are collected, not followed: the artifact's lock file provides them, and the
artifact test tier imports every shipped module to prove it.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agentcage.errors import ConfigurationError

__all__ = ["LIBRARY", "ModuleClosure", "import_closure", "module_imports"]

LIBRARY = "agentcage"
_NOT_FOR_THE_LIBRARY = ("functions", "tests")


@dataclass(frozen=True)
class ModuleClosure:
    """The modules reached: name -> source file, the lazily imported modules left out, third parties."""

    modules: Mapping[str, Path]
    left_out: frozenset[str] = field(default_factory=frozenset)
    third_party: frozenset[str] = field(default_factory=frozenset)


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_imports(module: str, source: Path) -> list[tuple[str, bool, bool]]:
    """``(name, at module level, must be a module)`` for each import in ``source`` outside ``TYPE_CHECKING``.

    ``from a import b`` yields ``a`` (a module) and ``a.b`` (a module or a name in ``a``); relative
    imports are resolved against ``module``.
    """
    tree = ast.parse(source.read_bytes(), filename=str(source))
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit_statement(other, top)
                continue
            visit_statement(child, top)

    def visit_statement(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, top, True) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.append((base, top, True))
            found.extend((f"{base}.{alias.name}", top, False) for alias in node.names if alias.name != "*")
        else:
            nested = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(node, top and not nested)

    visit(tree, True)
    return found


def _module_file(name: str, roots: Mapping[str, Path]) -> Path | None:
    first, *rest = name.split(".")
    root = roots.get(first)
    if root is None:
        return None
    if root.is_file():
        return root if not rest else None
    path = root.joinpath(*rest)
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    candidate = path.with_suffix(".py")
    return candidate if rest and candidate.is_file() else None


def import_closure(
    entries: Iterable[str], roots: Mapping[str, Path], excluded: Iterable[str] = ()
) -> ModuleClosure:
    """The first-party modules ``entries`` reach through ``roots`` (import name -> file or package)."""
    excluded = tuple(excluded)
    modules: dict[str, Path] = {}
    left_out: set[str] = set()
    third_party: set[str] = set()
    queue: deque[tuple[str, str | None]] = deque((entry, None) for entry in entries)
    while queue:
        name, importer = queue.popleft()
        if name in modules:
            continue
        source = _module_file(name, roots)
        if source is None:
            if importer is None:
                raise ConfigurationError(f"entry point module {name} does not exist")
            continue  # a name imported from a module (``from a import b``), not a module
        if _under(name, excluded):
            raise ConfigurationError(
                f"{importer or 'an entry point'} imports {name}, which no artifact ships"
            )
        modules[name] = source
        parts = name.split(".")
        queue.extend((".".join(parts[:depth]), name) for depth in range(1, len(parts)))
        for imported, at_module_level, must_exist in module_imports(name, source):
            first = imported.split(".")[0]
            if name.split(".")[0] == LIBRARY and first in _NOT_FOR_THE_LIBRARY:
                raise ConfigurationError(f"the library must not import {first}: {name} imports {imported}")
            if first not in roots:
                if first and first not in sys.stdlib_module_names and first != "__future__":
                    third_party.add(first)
                continue
            if _under(imported, excluded) and _module_file(imported, roots) is not None:
                if at_module_level:
                    raise ConfigurationError(f"{name} imports {imported}, which no artifact ships")
                left_out.add(imported)
                continue
            if must_exist and _module_file(imported, roots) is None:
                raise ConfigurationError(f"{name} imports {imported}, which does not exist")
            queue.append((imported, name))
    return ModuleClosure(dict(sorted(modules.items())), frozenset(left_out), frozenset(third_party))
