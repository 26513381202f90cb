"""The catalog: every tool of every ``*.openapi.yaml`` document, by operationId."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from agentcage.constants import CATALOG_DIR_ENV
from agentcage.errors import CatalogError, UnknownToolError
from agentcage.tools.openapi import HTTP_METHODS, OpenAPIDocument, load_document
from agentcage.tools.tool import Tool

__all__ = ["Catalog", "data_directory", "tools_of"]

# shared/agentcage/tools/catalog.py -> shared/
_SHARED_DIR = Path(__file__).resolve().parents[2]


def data_directory(explicit: str | os.PathLike[str] | None, env_name: str, default_name: str) -> Path:
    """Where a data folder is: the explicit argument, then the environment variable, then
    ``shared/<default_name>`` next to the package (its place in the repository)."""
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(env_name)
    if from_env:
        return Path(from_env)
    return _SHARED_DIR / default_name


def tools_of(document: OpenAPIDocument) -> list[Tool]:
    """The tools one (checked) document defines, in document order."""
    tools: list[Tool] = []
    for path, item in document.paths.items():
        for method in HTTP_METHODS:
            operation = getattr(item, method)
            if operation is not None:
                tools.append(
                    Tool.from_operation(
                        operation,
                        service=document.service,
                        method=method,
                        path=path,
                        shared_parameters=item.parameters,
                    )
                )
    return tools


class Catalog(Mapping[str, Tool]):
    """Tools by name. Names are unique across documents, and every ``x-agentcage-target`` names a
    read tool of the catalog that resolves the target."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise CatalogError(f"operationId {tool.name!r} is defined twice")
            self._tools[tool.name] = tool
        for tool in self._tools.values():
            if tool.target is None:
                continue
            resolver = self._tools.get(tool.target.resolve_with)
            if resolver is None or resolver.effect != "read":
                raise CatalogError(
                    f"{tool.name}: x-agentcage-target.resolve_with must name a read tool of the catalog, "
                    f"not {tool.target.resolve_with!r}"
                )

    @classmethod
    def from_directory(cls, directory: str | os.PathLike[str] | None = None) -> Catalog:
        """Load every ``*.openapi.yaml`` in ``directory`` (default: ``AGENTCAGE_CATALOG_DIR``, then
        ``shared/catalog``)."""
        folder = data_directory(directory, CATALOG_DIR_ENV, "catalog")
        files = sorted(folder.glob("*.openapi.yaml"))
        if not files:
            raise CatalogError(f"no *.openapi.yaml documents in {folder}")
        tools: list[Tool] = []
        for file in files:
            tools.extend(tools_of(load_document(file)))
        return cls(tools)

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def tool(self, name: str) -> Tool:
        """The tool named ``name``; :class:`UnknownToolError` when no document defines it."""
        found = self._tools.get(name)
        if found is None:
            raise UnknownToolError(f"no tool named {name!r}", details={"tool": name})
        return found
