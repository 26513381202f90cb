"""An artifact's third-party dependencies: installed from its hashed lock file, slimmed, cached.

:class:`UvInstaller` runs ``uv pip install --target --python-platform --python-version --only-binary
:all: --require-hashes --no-deps`` for the artifact's platform and Python into a cache keyed by the
lock file's hash and the slimming recipe, so a repeat build installs nothing. After installing it
slims the folder (:func:`slim`): console scripts go (no function runs them), botocore's service models
are cut to the services the artifact calls, and native libraries are stripped of symbols when a
``strip`` that reads their architecture is at hand (never otherwise). Each step keeps imports working:
``*.dist-info`` folders stay whole, because some libraries read their own metadata at import.

:class:`PrebuiltDependencies` hands over folders installed beforehand (CI, air-gapped hosts).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agentcage.constants import INFRA_DEPENDENCIES_DIR_ENV
from agentcage.errors import ConfigurationError

__all__ = [
    "DependencySet",
    "DependencyInstaller",
    "UvInstaller",
    "PrebuiltDependencies",
    "installer_from_environment",
    "slim",
    "strip_native_libraries",
    "trim_botocore",
]

_SLIM_RECIPE = "slim-v1: drop bin/, trim botocore data, strip --strip-unneeded"
# ELF e_machine values, and the binutils prefix that can strip each.
_ELF_MACHINES = {62: "x86_64", 183: "aarch64"}
# botocore/data files that every client needs, whatever the service.
_BOTOCORE_SHARED = frozenset(
    {"_retry.json", "endpoints.json", "partitions.json", "sdk-default-configuration.json"}
)


@dataclass(frozen=True)
class DependencySet:
    """What to install for one artifact: its lock file, platform and Python, and how to slim it.

    ``aws_services`` names the botocore service models kept (``None`` keeps them all).
    """

    name: str
    lock_file: Path
    platform: str
    python_version: str
    aws_services: tuple[str, ...] | None = None


class DependencyInstaller(Protocol):
    """Produces a folder of installed dependencies (or None for code only)."""

    def install(self, dependencies: DependencySet) -> Path | None:
        """The folder whose contents go under the artifact's dependency path."""
        ...


def _elf_machine(path: Path) -> str | None:
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    return _ELF_MACHINES.get(int.from_bytes(header[18:20], "little" if header[5] == 1 else "big"))


def _strip_tool(machine: str) -> str | None:
    prefixed = shutil.which(f"{machine}-linux-gnu-strip")
    if prefixed:
        return prefixed
    host = _elf_machine(Path(os.path.realpath(sys.executable)))
    return shutil.which("strip") if host == machine else None


def strip_native_libraries(folder: Path) -> list[Path]:
    """``strip --strip-unneeded`` every ELF shared library a matching binutils can read; the stripped."""
    stripped: list[Path] = []
    for path in sorted(folder.rglob("*.so*")):
        if not path.is_file() or path.is_symlink() or ".dist-info" in path.parent.name:
            continue
        machine = _elf_machine(path)
        tool = _strip_tool(machine) if machine else None
        if tool is None:
            continue
        partial = path.with_name(path.name + ".stripped")
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [tool, "--strip-unneeded", "-o", str(partial), str(path)], capture_output=True, check=False
        )
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            continue  # an object binutils cannot rewrite stays as the wheel shipped it
        shutil.copymode(path, partial)
        partial.replace(path)  # a new file: the uv cache's hard-linked original is untouched
        stripped.append(path)
    return stripped


def trim_botocore(folder: Path, services: Sequence[str]) -> None:
    """Keep only ``services``' models in botocore (and boto3's resource models): the rest is never read."""
    keep = set(services)
    for data in (folder / "botocore" / "data", folder / "boto3" / "data"):
        if not data.is_dir():
            continue
        for entry in data.iterdir():
            if entry.name in keep or entry.name in _BOTOCORE_SHARED:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def slim(folder: Path, dependencies: DependencySet) -> None:
    """Drop console scripts, trim botocore to the artifact's services, strip native libraries."""
    shutil.rmtree(folder / "bin", ignore_errors=True)
    if dependencies.aws_services is not None:
        trim_botocore(folder, dependencies.aws_services)
    strip_native_libraries(folder)


class UvInstaller:
    """Installs a hashed lock file with uv for a platform and Python, slimmed, cached by lock hash."""

    def __init__(self, cache_dir: Path, uv: str = "uv") -> None:
        self.cache_dir = cache_dir
        self.uv = uv

    def cache_key(self, dependencies: DependencySet) -> str:
        """Changes exactly when what would be installed changes."""
        if not dependencies.lock_file.is_file():
            raise ConfigurationError(
                f"{dependencies.name}: lock file {dependencies.lock_file} is missing"
                " (see infra/DEPLOY.md, 'Lock files')"
            )
        digest = hashlib.sha256(dependencies.lock_file.read_bytes())
        digest.update(repr((_SLIM_RECIPE, dependencies.aws_services)).encode())
        return (
            f"{dependencies.name}-{dependencies.platform}-py{dependencies.python_version}-"
            f"{digest.hexdigest()[:16]}"
        )

    def install(self, dependencies: DependencySet) -> Path:
        """Install (or reuse) the dependencies; needs the network on a cache miss."""
        key = self.cache_key(dependencies)
        done = self.cache_dir / key
        if done.is_dir():
            return done
        staging = self.cache_dir / f"{key}.partial.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        command = [
            self.uv, "pip", "install", "--quiet", "--no-deps", "--require-hashes",
            "--only-binary", ":all:", "--python-version", dependencies.python_version,
            "--python-platform", dependencies.platform, "--target", str(staging),
            "-r", str(dependencies.lock_file),
        ]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603 - fixed argv
        except FileNotFoundError:
            raise ConfigurationError(f"{self.uv} not found: install uv to package dependencies") from None
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ConfigurationError(
                f"{dependencies.name}: uv pip install failed: {exc.stderr.strip()[-2000:]}"
            ) from None
        slim(staging, dependencies)
        try:
            staging.rename(done)
        except OSError:  # another build finished the same key first: theirs is identical
            shutil.rmtree(staging, ignore_errors=True)
        return done


class PrebuiltDependencies:
    """Dependencies installed beforehand (CI, air-gapped hosts): ``<root>/<artifact name>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def install(self, dependencies: DependencySet) -> Path:
        """The pre-built folder for the artifact; it must exist."""
        folder = self.root / dependencies.name
        if not folder.is_dir():
            raise ConfigurationError(f"{INFRA_DEPENDENCIES_DIR_ENV}: {folder} does not exist")
        return folder


def installer_from_environment(cache_dir: Path, uv: str = "uv") -> DependencyInstaller:
    """Pre-built dependencies when ``AGENTCAGE_INFRA_DEPENDENCIES_DIR`` is set, else uv with a cache."""
    prebuilt = os.environ.get(INFRA_DEPENDENCIES_DIR_ENV)
    return PrebuiltDependencies(Path(prebuilt)) if prebuilt else UvInstaller(cache_dir, uv)
