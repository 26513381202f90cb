"""Where the unzipped host artifacts are (``dist/host/<name>/``), until ``artifact_support`` is in.

``AGENTCAGE_HOST_ARTIFACTS_DIR`` overrides the folder. A missing artifact fails the test (it is
never skipped): ``make artifacts`` builds them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["artifact_paths", "host_artifact"]

_DIST_HOST = Path(__file__).resolve().parents[3] / "dist" / "host"


def host_artifact(name: str) -> Path:
    """The unzipped tree of host artifact ``name``."""
    root = Path(os.environ.get("AGENTCAGE_HOST_ARTIFACTS_DIR") or _DIST_HOST)
    tree = root / name
    if not tree.is_dir():
        raise AssertionError(f"host artifact {name} is not built at {tree}: run `make artifacts`")
    return tree


def artifact_paths(tree: Path) -> list[Path]:
    """What goes on ``sys.path`` for artifact ``tree``: its manifest's ``sys_path``, else its root."""
    manifest = tree / "agentcage-artifact.json"
    entries = json.loads(manifest.read_text(encoding="utf-8")).get("sys_path") if manifest.is_file() else None
    return [tree / entry if entry else tree for entry in entries or [""]]
