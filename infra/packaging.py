"""Deterministic deployment packages: the same inputs give byte-identical archives.

Entries are sorted, timestamps fixed, permissions normalised and caches excluded, so the archive's
sha256 only changes when a packaged file does, and an unchanged ``pulumi up`` updates nothing.

Three packages (see :data:`TARGETS`): ``lambda-core`` (tool executor + data services),
``lambda-bridge`` (the bridge to Azure: adds azure-identity/azure-servicebus) and ``function-app``
(the Azure coordinator). Each bundles the function code, the ``agentcage`` library, the Cedar
policies, the OpenAPI catalog and agent definitions, plus its dependency wheels for the target
platform, installed from a hashed per-target lock file (``requirements/<target>.lock``) with
``uv pip install --target --python-platform --only-binary :all: --require-hashes`` into a cache
keyed by the lock file's hash. The dependency step is injectable (:class:`DependencyInstaller`) so
tests build the code part without a network, and CI can hand over pre-built dependency folders via
``AGENTCAGE_INFRA_DEPENDENCIES_DIR``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agentcage.constants import INFRA_DEPENDENCIES_DIR_ENV
from agentcage.errors import ConfigurationError

__all__ = [
    "FIXED_TIMESTAMP",
    "EXCLUDED_NAMES",
    "LAMBDA_PLATFORMS",
    "FUNCTION_APP_PLATFORM",
    "ArchiveSource",
    "PackageTarget",
    "BuiltArchive",
    "DependencyInstaller",
    "UvInstaller",
    "PrebuiltDependencies",
    "targets",
    "build_archive",
    "build_package",
    "build_deployment",
    "installer_from_environment",
]

# Zip cannot store dates before 1980; every entry carries this one.
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
EXCLUDED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".DS_Store"})
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
LAMBDA_PLATFORMS: Mapping[str, str] = {"arm64": "aarch64-manylinux_2_28", "x86_64": "x86_64-manylinux_2_28"}
FUNCTION_APP_PLATFORM = "x86_64-manylinux_2_28"  # Flex Consumption runs Linux on x64
PYTHON_VERSION = "3.12"


@dataclass(frozen=True)
class ArchiveSource:
    """A file or folder and where it goes in the archive (``""`` = the root)."""

    path: Path
    target: str
    required: bool = True


@dataclass(frozen=True)
class PackageTarget:
    """One deployable package: what goes in, which lock file and platform its wheels come from."""

    name: str
    sources: tuple[ArchiveSource, ...]
    lock_file: Path
    platform: str
    dependencies_target: str  # where installed dependencies go inside the archive


@dataclass(frozen=True)
class BuiltArchive:
    """A built package and its digests."""

    path: Path
    sha256: str

    @property
    def base64_sha256(self) -> str:
        """The digest as Lambda's ``source_code_hash`` expects it."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode("ascii")


class DependencyInstaller(Protocol):
    """Produces a folder of installed dependencies for a target (or None for code-only)."""

    def install(self, target: PackageTarget) -> Path | None:
        """The folder whose contents go under ``target.dependencies_target``."""
        ...


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class UvInstaller:
    """Installs a target's hashed lock file with uv for the target platform, cached by lock hash."""

    def __init__(self, cache_dir: Path, uv: str = "uv") -> None:
        self.cache_dir = cache_dir
        self.uv = uv

    def install(self, target: PackageTarget) -> Path:
        """Install (or reuse) the dependencies of ``target``; needs the network on a cache miss."""
        if not target.lock_file.is_file():
            raise ConfigurationError(
                f"{target.name}: lock file {target.lock_file} is missing (see infra/DEPLOY.md, 'Lock files')"
            )
        key = f"{target.name}-{target.platform}-{_sha256_file(target.lock_file)[:16]}"
        done = self.cache_dir / key
        if done.is_dir():
            return done
        staging = self.cache_dir / f"{key}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        command = [
            self.uv, "pip", "install", "--quiet", "--no-deps", "--require-hashes",
            "--only-binary", ":all:", "--python-version", PYTHON_VERSION,
            "--python-platform", target.platform, "--target", str(staging), "-r", str(target.lock_file),
        ]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603 - fixed argv, no shell
        except FileNotFoundError:
            raise ConfigurationError(f"{self.uv} not found: install uv to package dependencies") from None
        except subprocess.CalledProcessError as exc:
            raise ConfigurationError(
                f"{target.name}: uv pip install failed: {exc.stderr.strip()[-2000:]}"
            ) from None
        staging.rename(done)
        return done


class PrebuiltDependencies:
    """Dependencies installed beforehand (CI, air-gapped hosts): ``<root>/<target name>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def install(self, target: PackageTarget) -> Path:
        """The pre-built folder for ``target``; it must exist."""
        folder = self.root / target.name
        if not folder.is_dir():
            raise ConfigurationError(f"{INFRA_DEPENDENCIES_DIR_ENV}: {folder} does not exist")
        return folder


def installer_from_environment(cache_dir: Path) -> DependencyInstaller:
    """Pre-built dependencies when ``AGENTCAGE_INFRA_DEPENDENCIES_DIR`` is set, else uv with a cache."""
    prebuilt = os.environ.get(INFRA_DEPENDENCIES_DIR_ENV)
    return PrebuiltDependencies(Path(prebuilt)) if prebuilt else UvInstaller(cache_dir)


def targets(repo_root: Path, lambda_architecture: str) -> dict[str, PackageTarget]:
    """The three packages of a deployment, for the configured Lambda architecture."""
    if lambda_architecture not in LAMBDA_PLATFORMS:
        raise ConfigurationError(f"unknown Lambda architecture {lambda_architecture!r}")
    shared = repo_root / "shared"
    library = (
        ArchiveSource(shared / "agentcage", "agentcage"),
        ArchiveSource(shared / "policies", "policies"),
        ArchiveSource(shared / "catalog", "catalog"),
        ArchiveSource(shared / "agents", "agents", required=False),
    )
    lambda_code = (ArchiveSource(repo_root / "functions" / "aws", "functions/aws"), *library)
    # The coordinator reads target tags with the executor's own SigV4 transport (target_reader.py):
    # the functions.aws.executor package and its parents' __init__ files, nothing else of the Lambdas.
    functions = repo_root / "functions"
    coordinator_extras = (
        ArchiveSource(functions / "__init__.py", "functions"),
        ArchiveSource(functions / "aws" / "__init__.py", "functions/aws"),
        ArchiveSource(functions / "aws" / "executor", "functions/aws/executor"),
    )
    locks = repo_root / "requirements"
    platform = LAMBDA_PLATFORMS[lambda_architecture]
    return {
        "lambda-core": PackageTarget("lambda-core", lambda_code, locks / "lambda.lock", platform, ""),
        "lambda-bridge": PackageTarget(
            "lambda-bridge", lambda_code, locks / "lambda-bridge.lock", platform, ""
        ),
        "function-app": PackageTarget(
            "function-app",
            (ArchiveSource(repo_root / "functions" / "azure", ""), *coordinator_extras, *library),
            locks / "functionapp.lock",
            FUNCTION_APP_PLATFORM,
            # The Functions Python worker puts this folder on sys.path.
            ".python_packages/lib/site-packages",
        ),
    }


def _walk(source: Path) -> Iterator[tuple[str, Path]]:
    if source.is_file():
        yield source.name, source
        return
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_NAMES)
        for filename in filenames:
            if filename in EXCLUDED_NAMES or filename.endswith(_EXCLUDED_SUFFIXES):
                continue
            full = Path(dirpath) / filename
            yield full.relative_to(source).as_posix(), full


def _entries(sources: Sequence[ArchiveSource]) -> dict[str, Path]:
    entries: dict[str, Path] = {}
    for source in sources:
        if not source.path.exists():
            if source.required:
                raise ConfigurationError(f"package source {source.path} does not exist")
            continue
        for relative, full in _walk(source.path):
            name = f"{source.target.strip('/')}/{relative}".lstrip("/")
            if name in entries and entries[name].read_bytes() != full.read_bytes():
                raise ConfigurationError(f"two package sources provide {name}: {entries[name]} and {full}")
            entries[name] = full
    return entries


def build_archive(destination: Path, sources: Sequence[ArchiveSource]) -> BuiltArchive:
    """Write a reproducible zip of ``sources`` to ``destination`` and return its digest."""
    entries = _entries(sources)
    if not entries:
        raise ConfigurationError(f"{destination.name}: nothing to package")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(entries):
            path = entries[name]
            info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
            info.create_system = 3  # unix, whatever the build host, so the mode bits below are honoured
            executable = path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(destination)
    return BuiltArchive(destination, _sha256_file(destination))


def build_package(target: PackageTarget, out_dir: Path, installer: DependencyInstaller) -> BuiltArchive:
    """Build one deployment package: code sources plus the installer's dependencies."""
    sources = list(target.sources)
    dependencies = installer.install(target)
    if dependencies is not None:
        sources.append(ArchiveSource(dependencies, target.dependencies_target))
    return build_archive(out_dir / f"{target.name}.zip", sources)


def build_deployment(
    repo_root: Path,
    out_dir: Path,
    lambda_architecture: str,
    generated: Mapping[str, str],
    installer: DependencyInstaller,
) -> dict[str, BuiltArchive]:
    """Build every package of a stack; ``generated`` files (relative path -> text) go into each."""
    generated_dir = out_dir / "generated"
    shutil.rmtree(generated_dir, ignore_errors=True)
    for relative, text in generated.items():
        path = generated_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    built: dict[str, BuiltArchive] = {}
    for name, target in targets(repo_root, lambda_architecture).items():
        with_generated = PackageTarget(
            target.name,
            (*target.sources, ArchiveSource(generated_dir, "", required=bool(generated))),
            target.lock_file,
            target.platform,
            target.dependencies_target,
        )
        built[name] = build_package(with_generated, out_dir, installer)
    return built
