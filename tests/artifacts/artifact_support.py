"""Shared by the artifact tier: build (or reuse) the host artifacts and run code inside one, isolated.

- :func:`ensure_host_artifacts` builds every host artifact with ``infra/packaging.py`` (the builder
  ``make artifacts`` and ``pulumi up`` use), into ``dist/host/`` unless ``AGENTCAGE_HOST_ARTIFACTS_DIR``
  names another folder. Dependencies are cached by lock hash in ``.agentcage/wheels`` and an archive
  whose inputs did not change is reused, so only the first run on a machine downloads from PyPI.
  The builder's file lock makes parallel test workers build once.
- :func:`host_artifact` is one built artifact: its unzipped tree, its manifest, the ``sys.path`` it
  runs with and the modules it ships (its own code and the library, not its dependencies).
- :func:`run_isolated` runs Python code in ``python -I -S`` with only the given folders in front of
  the standard library: no site-packages, no PYTHONPATH, no current directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "REPO_ROOT",
    "ARTIFACT_NAMES",
    "HostArtifact",
    "host_artifacts_dir",
    "ensure_host_artifacts",
    "host_artifact",
    "run_isolated",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACT_NAMES = ("lambda-core", "lambda-data", "lambda-bridge", "function-app")
_ISOLATED_TIMEOUT_S = 300  # imports of a whole artifact, with a CPU-bound neighbour


def host_artifacts_dir() -> Path:
    """Where host artifacts are built: ``AGENTCAGE_HOST_ARTIFACTS_DIR`` or ``dist/host``."""
    return Path(os.environ.get("AGENTCAGE_HOST_ARTIFACTS_DIR") or REPO_ROOT / "dist" / "host")


@dataclass(frozen=True)
class HostArtifact:
    """One unzipped host artifact."""

    name: str
    root: Path
    manifest: Mapping[str, Any]
    code_roots: tuple[str, ...]  # the import roots of its own code and the library

    @property
    def sys_path(self) -> list[Path]:
        """The folders the artifact's runtime puts on ``sys.path`` (root, then dependencies)."""
        return [self.root / entry if entry else self.root for entry in self.manifest["sys_path"]]

    def shipped_modules(self) -> list[str]:
        """Every module of its own code and the library that the artifact ships, by dotted name."""
        modules: list[str] = []
        for path in sorted(self.root.rglob("*.py")):
            parts = list(path.relative_to(self.root).with_suffix("").parts)
            if parts[0] not in self.code_roots:
                continue
            if parts[-1] == "__init__":
                parts.pop()
            modules.append(".".join(parts))
        return modules


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv") or str(REPO_ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists() and shutil.which(found) is None:
        raise AssertionError(f"uv is needed to build the host artifacts and was not found ({found})")
    return found


@cache
def ensure_host_artifacts() -> dict[str, HostArtifact]:
    """Build (or reuse) every host artifact; the same builder as ``make artifacts``."""
    from infra.dependencies import installer_from_environment
    from infra.packaging import build_host_artifacts, default_bytecode, host_targets

    # build_host_artifacts locks the folder: parallel workers and `make artifacts` build it once.
    build_host_artifacts(
        REPO_ROOT,
        host_artifacts_dir(),
        installer_from_environment(REPO_ROOT / ".agentcage" / "wheels", _uv()),
        bytecode=default_bytecode(REPO_ROOT, _uv()),
    )
    targets = host_targets(REPO_ROOT)
    return {name: _load(name, tuple(targets[name].code_roots)) for name in ARTIFACT_NAMES}


def _load(name: str, code_roots: tuple[str, ...]) -> HostArtifact:
    root = host_artifacts_dir() / name
    manifest_file = root / "agentcage-artifact.json"
    if not manifest_file.is_file():
        raise AssertionError(f"host artifact {name} is not built at {root}: run `make artifacts`")
    return HostArtifact(name, root, json.loads(manifest_file.read_text(encoding="utf-8")), code_roots)


def host_artifact(name: str) -> HostArtifact:
    """One host artifact, built first if needed."""
    return ensure_host_artifacts()[name]


def run_isolated(
    paths: Sequence[Path],
    code: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = _ISOLATED_TIMEOUT_S,
    flags: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in ``python -I -S`` (plus ``flags``) with only ``paths`` in front of the stdlib.

    ``env`` is the whole environment (nothing of this process leaks in); ``cwd`` defaults to the
    first path's parent, so the current directory provides nothing either.
    """
    prelude = f"import sys; sys.path[:0] = {json.dumps([str(p) for p in paths])}\n"
    return subprocess.run(
        [sys.executable, "-I", "-S", *flags, "-c", prelude + code],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env or {}),
        cwd=cwd or Path(paths[0]).parent,
        timeout=timeout,
        check=False,
    )
