"""The one definition of what each deployment artifact contains, and the builder of all of them.

Four artifacts (:func:`targets`), each built from its own lock file for its own platform and Python:

==============  =====================================================  ==========================
artifact        entry points                                           lock file
==============  =====================================================  ==========================
lambda-core     tool executor, dead-letters drain, ledger sweeper      requirements/lambda.lock
lambda-data     the data services behind API Gateway (no Cedar)        requirements/lambda-data.lock
lambda-bridge   bridge_to_azure (Azure SDKs)                           requirements/lambda-bridge.lock
function-app    the coordinator's ``function_app.py``                  requirements/functionapp.lock
==============  =====================================================  ==========================

The code in an artifact is the import closure of its entry points (:mod:`infra.module_closure`):
what they can reach of ``functions/`` and the ``agentcage`` library, never the local runtime, the CLI
or test helpers. Data files (policies, catalog, agents, ``host.json``) are declared per artifact.
Dependencies come from :mod:`infra.dependencies`. Every zip carries ``agentcage-artifact.json``
(:data:`MANIFEST_NAME`): name, entry points, lock file, unzipped size, platform, Python, and the
folders to put on ``sys.path``.

The same definitions build ``dist/deploy/`` for the clouds (``make package``, and the Pulumi program
through :func:`build_deployment`) and ``dist/host/`` for this machine's platform and Python (``make
artifacts``), where each zip is also unzipped for the artifact tests and local workers::

    python -m infra.packaging deploy [--architecture arm64]
    python -m infra.packaging host
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import platform as host_platform
import shutil
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from agentcage.errors import ConfigurationError
from functions.aws.manifest import LAMBDAS
from infra.archive import (
    FIXED_TIMESTAMP,
    ArchiveSource,
    BuiltArchive,
    archive_entries,
    build_archive,
    sha256_file,
)
from infra.bytecode import BytecodeToolchain
from infra.dependencies import (
    DependencyInstaller,
    DependencySet,
    PrebuiltDependencies,
    UvInstaller,
    installer_from_environment,
)
from infra.module_closure import import_closure, module_imports
from infra.pruning import PRUNE_RULES, prune_entries

__all__ = [
    "FIXED_TIMESTAMP",
    "MANIFEST_NAME",
    "ARTIFACT_OF_ARCHIVE",
    "NEVER_SHIPPED",
    "LAMBDA_PLATFORMS",
    "FUNCTION_APP_PLATFORM",
    "PYTHON_VERSION",
    "ArchiveSource",
    "BuiltArchive",
    "BytecodeToolchain",
    "PackageTarget",
    "DependencyInstaller",
    "DependencySet",
    "UvInstaller",
    "PrebuiltDependencies",
    "installer_from_environment",
    "targets",
    "host_targets",
    "build_archive",
    "build_package",
    "build_deployment",
    "build_host_artifacts",
    "default_bytecode",
    "artifact_manifest",
    "pruning_seeds",
]

MANIFEST_NAME: Final = "agentcage-artifact.json"
LAMBDA_PLATFORMS: Final[Mapping[str, str]] = {
    "arm64": "aarch64-manylinux_2_28",
    "x86_64": "x86_64-manylinux_2_28",
}
FUNCTION_APP_PLATFORM: Final = "x86_64-manylinux_2_28"  # Flex Consumption runs Linux on x64
PYTHON_VERSION: Final = "3.12"  # both clouds' runtime
# The manifest's `archive` of a Lambda -> the artifact that holds its handler.
ARTIFACT_OF_ARCHIVE: Final[Mapping[str, str]] = {
    "core": "lambda-core",
    "data": "lambda-data",
    "bridge": "lambda-bridge",
}
# Never in an artifact: the local runtime, the CLI, test helpers. (A lazy import of one leaves it out.)
NEVER_SHIPPED: Final = ("agentcage.local", "agentcage.cli", "agentcage.ledger.testing", "tests")
# The botocore service models each Lambda artifact keeps (the Function App keeps them all): the
# services its code calls, and xray, whose client Powertools' Tracer builds at import.
_AWS_SERVICES: Final[Mapping[str, tuple[str, ...]]] = {
    "lambda-core": ("dynamodb", "sqs", "xray"),
    "lambda-data": ("dynamodb",),
    "lambda-bridge": ("sts", "xray"),
}
_LOCK_FILES: Final[Mapping[str, str]] = {
    "lambda-core": "lambda.lock",
    "lambda-data": "lambda-data.lock",
    "lambda-bridge": "lambda-bridge.lock",
    "function-app": "functionapp.lock",
}
_FUNCTION_APP_DEPENDENCIES: Final = ".python_packages/lib/site-packages"  # the Python worker's path


@dataclass(frozen=True)
class PackageTarget:
    """One artifact: entry points, code roots, data files, dependencies and where they go.

    ``code_roots`` maps an import root (``agentcage``, ``functions``, ``runtime``) to its source file
    or folder and its place in the archive; the closure of ``entry_modules`` over them is the code.
    ``takes_stack_config`` says whether the stack's generated files (the budget) go in.
    """

    name: str
    entry_points: tuple[str, ...]
    entry_modules: tuple[str, ...]
    code_roots: Mapping[str, tuple[Path, str]]
    data: tuple[ArchiveSource, ...]
    dependencies: DependencySet
    dependencies_target: str
    takes_stack_config: bool
    repo_root: Path

    @property
    def lock_file(self) -> Path:
        """The hashed lock file the dependencies are installed from."""
        return self.dependencies.lock_file

    @property
    def platform(self) -> str:
        """The uv platform the dependencies are installed for."""
        return self.dependencies.platform

    def code_entries(self) -> dict[str, Path]:
        """Archive name -> source file of every module the entry points reach."""
        closure = import_closure(
            self.entry_modules, {root: path for root, (path, _) in self.code_roots.items()}, NEVER_SHIPPED
        )
        entries: dict[str, Path] = {}
        for module, source in closure.modules.items():
            root_path, archive_dir = self.code_roots[module.split(".")[0]]
            relative = source.name if root_path.is_file() else source.relative_to(root_path).as_posix()
            entries[f"{archive_dir}/{relative}".lstrip("/")] = source
        return entries


def _library_data(repo_root: Path) -> tuple[ArchiveSource, ...]:
    shared = repo_root / "shared"
    return (
        ArchiveSource(shared / "policies", "policies"),
        ArchiveSource(shared / "catalog", "catalog"),
        ArchiveSource(shared / "agents", "agents", required=False),
    )


def _function_app_roots(repo_root: Path) -> dict[str, tuple[Path, str]]:
    app = repo_root / "functions" / "azure"
    roots: dict[str, tuple[Path, str]] = {"agentcage": (repo_root / "shared" / "agentcage", "agentcage")}
    for entry in sorted(app.iterdir()):
        if entry.suffix == ".py":
            roots[entry.stem] = (entry, "")
        elif (entry / "__init__.py").is_file():
            roots[entry.name] = (entry, entry.name)
    return roots


def targets(
    repo_root: Path,
    lambda_architecture: str = "arm64",
    *,
    lambda_platform: str | None = None,
    function_app_platform: str = FUNCTION_APP_PLATFORM,
    python_version: str = PYTHON_VERSION,
) -> dict[str, PackageTarget]:
    """Every artifact of a deployment, for the Lambda architecture (or explicit platforms and Python)."""
    if lambda_platform is None:
        if lambda_architecture not in LAMBDA_PLATFORMS:
            raise ConfigurationError(f"unknown Lambda architecture {lambda_architecture!r}")
        lambda_platform = LAMBDA_PLATFORMS[lambda_architecture]
    locks = repo_root / "requirements"
    lambda_roots = {
        "agentcage": (repo_root / "shared" / "agentcage", "agentcage"),
        "functions": (repo_root / "functions", "functions"),
    }

    def dependencies(name: str, platform: str) -> DependencySet:
        return DependencySet(
            name, locks / _LOCK_FILES[name], platform, python_version, _AWS_SERVICES.get(name)
        )

    built: dict[str, PackageTarget] = {}
    for archive, name in ARTIFACT_OF_ARCHIVE.items():
        handlers = tuple(spec.handler for spec in LAMBDAS if spec.archive == archive)
        built[name] = PackageTarget(
            name=name,
            entry_points=handlers,
            entry_modules=tuple(handler.rpartition(".")[0] for handler in handlers),
            code_roots=lambda_roots,
            data=_library_data(repo_root) if archive == "core" else (),
            dependencies=dependencies(name, lambda_platform),
            dependencies_target="",  # Lambda puts the archive root on sys.path
            takes_stack_config=archive == "core",
            repo_root=repo_root,
        )
    built["function-app"] = PackageTarget(
        name="function-app",
        entry_points=("function_app.py",),
        entry_modules=("function_app",),
        code_roots=_function_app_roots(repo_root),
        data=(
            ArchiveSource(repo_root / "functions" / "azure" / "host.json", ""),
            *_library_data(repo_root),
            # The console's stylesheet, script and icon: package data the import closure cannot see.
            ArchiveSource(repo_root / "shared/agentcage/console/static", "agentcage/console/static"),
        ),
        dependencies=dependencies("function-app", function_app_platform),
        dependencies_target=_FUNCTION_APP_DEPENDENCIES,
        takes_stack_config=True,
        repo_root=repo_root,
    )
    return built


def _host_platform() -> str:
    machine = host_platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if sys.platform != "linux" or machine not in ("x86_64", "aarch64"):
        raise ConfigurationError(f"host artifacts are built for Linux x86_64 or aarch64, not {machine}")
    return f"{machine}-manylinux_2_28"


def host_targets(repo_root: Path) -> dict[str, PackageTarget]:
    """The same artifacts for this machine's platform and this interpreter's Python."""
    platform = _host_platform()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return targets(repo_root, lambda_platform=platform, function_app_platform=platform, python_version=python)


def pruning_seeds(entries: Mapping[str, Path], code: Mapping[str, Path]) -> set[str]:
    """What the artifact's code, and every dependency not itself pruned, imports of a pruned package."""
    wanted = tuple(PRUNE_RULES)
    pruned_prefixes = tuple(f"{package}/" for package in wanted)
    seeds: set[str] = set()
    for name, path in entries.items():
        if not name.endswith(".py"):
            continue
        relative = name.removeprefix(_FUNCTION_APP_DEPENDENCIES + "/")
        if relative.startswith(pruned_prefixes):
            continue  # followed from the seeds, not a seed itself
        if name not in code and not any(package.encode() in path.read_bytes() for package in wanted):
            continue  # a dependency that never names a pruned package (most of them): not parsed
        module = relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        seeds.update(
            imported for imported, _, _ in module_imports(module, path) if imported.split(".")[0] in wanted
        )
    return seeds


def artifact_manifest(
    target: PackageTarget, entries: Mapping[str, Path], *, bytecode: bool = False
) -> dict[str, object]:
    """``agentcage-artifact.json``: what the artifact is, built from what, for what, how big unzipped,
    and whether it ships its target Python's bytecode."""
    sys_path = [""] if not target.dependencies_target else ["", target.dependencies_target]
    return {
        "name": target.name,
        "entry_points": list(target.entry_points),
        "lock_file": target.lock_file.relative_to(target.repo_root).as_posix(),
        "unzipped_bytes": sum(path.stat().st_size for path in entries.values()),
        "platform": target.platform,
        "python": target.dependencies.python_version,
        "sys_path": sys_path,
        "bytecode": bytecode,
    }


def build_package(
    target: PackageTarget,
    out_dir: Path,
    installer: DependencyInstaller,
    generated: Sequence[ArchiveSource] = (),
    *,
    bytecode: BytecodeToolchain | None = None,
) -> BuiltArchive:
    """Build one artifact: its code closure, data files, dependencies, their bytecode and manifest.

    ``bytecode`` finds the target Python's compiler (default: look for one, cache in the repository's
    ``.agentcage/bytecode``); without one the artifact ships sources only and its manifest says so.
    """
    sources = [*target.data, *(generated if target.takes_stack_config else ())]
    dependencies = installer.install(target.dependencies)
    if dependencies is not None:
        sources.append(ArchiveSource(dependencies, target.dependencies_target))
    code = target.code_entries()
    entries = {**archive_entries(sources), **code}
    if MANIFEST_NAME in entries:
        raise ConfigurationError(f"{target.name}: a source provides {MANIFEST_NAME}")
    entries, _ = prune_entries(entries, pruning_seeds(entries, code), target.dependencies_target, code=code)
    toolchain = bytecode or default_bytecode(target.repo_root)
    compiler = toolchain.compiler(target.dependencies.python_version)
    if compiler is not None:
        entries |= compiler.compile(entries)
    description = artifact_manifest(target, entries, bytecode=compiler is not None)
    manifest = json.dumps(description, indent=2, sort_keys=True) + "\n"
    destination = out_dir / f"{target.name}.zip"
    reused = _unchanged(destination, entries, manifest)
    if reused is not None:
        return reused
    built = build_archive(destination, entries=entries, extra={MANIFEST_NAME: manifest.encode()})
    _inputs_record(destination).write_text(f"{_fingerprint(entries, manifest)} {built.sha256}\n")
    return built


def default_bytecode(repo_root: Path, uv: str | None = None) -> BytecodeToolchain:
    """Look for each target Python's interpreter; compiled files cached in ``.agentcage/bytecode``."""
    return BytecodeToolchain(repo_root / ".agentcage" / "bytecode", uv=uv or _uv(repo_root))


def _inputs_record(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.inputs")


def _fingerprint(entries: Mapping[str, Path], manifest: str) -> str:
    # Names, sizes and modification times: a changed file changes the fingerprint without reading
    # every byte again (the dependency folders are immutable once cached).
    digest = hashlib.sha256(manifest.encode())
    for name in sorted(entries):
        status = entries[name].stat()
        digest.update(f"{name}\0{status.st_size}\0{status.st_mtime_ns}\0{status.st_mode}\n".encode())
    return digest.hexdigest()


def _unchanged(destination: Path, entries: Mapping[str, Path], manifest: str) -> BuiltArchive | None:
    """The archive built last time from the same inputs, when it is still there untouched."""
    record = _inputs_record(destination)
    if not destination.is_file() or not record.is_file():
        return None
    fingerprint, _, sha256 = record.read_text().strip().partition(" ")
    if fingerprint != _fingerprint(entries, manifest) or sha256_file(destination) != sha256:
        return None
    return BuiltArchive(destination, sha256)


def build_deployment(
    repo_root: Path,
    out_dir: Path,
    lambda_architecture: str,
    generated: Mapping[str, str],
    installer: DependencyInstaller,
    *,
    bytecode: BytecodeToolchain | None = None,
) -> dict[str, BuiltArchive]:
    """Build every artifact of a stack; ``generated`` files (relative path -> text) go where they are read."""
    generated_dir = out_dir / "generated"
    shutil.rmtree(generated_dir, ignore_errors=True)
    for relative, text in generated.items():
        path = generated_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    stack_files = (ArchiveSource(generated_dir, ""),) if generated else ()
    return {
        name: build_package(target, out_dir, installer, stack_files, bytecode=bytecode)
        for name, target in targets(repo_root, lambda_architecture).items()
    }


def _unzip_fresh(built: BuiltArchive, tree: Path) -> None:
    stamp = tree.with_name(f"{tree.name}.sha256")
    if tree.is_dir() and stamp.is_file() and stamp.read_text(encoding="ascii").strip() == built.sha256:
        return
    shutil.rmtree(tree, ignore_errors=True)
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(tree)
    stamp.write_text(built.sha256 + "\n", encoding="ascii")


def build_host_artifacts(
    repo_root: Path,
    out_dir: Path,
    installer: DependencyInstaller,
    names: Sequence[str] = (),
    *,
    bytecode: BytecodeToolchain | None = None,
) -> dict[str, BuiltArchive]:
    """Build ``dist/host/<name>.zip`` for this machine and unzip each into ``dist/host/<name>/``.

    A lock file in ``out_dir`` serialises builders (``make artifacts``, test workers, the local
    runtime), so none reads a tree another is rewriting.
    """
    chosen = host_targets(repo_root)
    if unknown := set(names) - set(chosen):
        raise ConfigurationError(f"no artifact named {', '.join(sorted(unknown))}")
    out_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, BuiltArchive] = {}
    with (out_dir / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name, target in chosen.items():
            if names and name not in names:
                continue
            built[name] = build_package(target, out_dir, installer, bytecode=bytecode)
            _unzip_fresh(built[name], out_dir / name)
    return built


def _uv(repo_root: Path) -> str:
    return shutil.which("uv") or str(repo_root / ".tools" / "bin" / "uv")


def main(argv: Sequence[str] | None = None) -> int:
    """``deploy`` -> dist/deploy/ for the clouds; ``host`` -> dist/host/ for this machine."""
    parser = argparse.ArgumentParser(prog="python -m infra.packaging", description=main.__doc__)
    parser.add_argument("kind", choices=("deploy", "host"))
    parser.add_argument("--architecture", default="arm64", choices=sorted(LAMBDA_PLATFORMS))
    parser.add_argument("--uv", help="the uv executable (default: on PATH, else .tools/bin/uv)")
    parser.add_argument("--out", type=Path, help="output folder (default dist/<kind>)")
    parser.add_argument(
        "--target-python",
        help=f"a CPython {PYTHON_VERSION} to compile the deployment's bytecode with"
        " (default: `uv python find`, then PATH; none found: sources only)",
    )
    parser.add_argument("--no-bytecode", action="store_true", help="ship sources only")
    args = parser.parse_args(argv)
    repo_root = Path(__file__).resolve().parents[1]
    out_dir = args.out or repo_root / "dist" / args.kind
    uv = args.uv or _uv(repo_root)
    installer = installer_from_environment(repo_root / ".agentcage" / "wheels", uv)
    bytecode = BytecodeToolchain(
        repo_root / ".agentcage" / "bytecode",
        uv=uv,
        interpreters={PYTHON_VERSION: args.target_python} if args.target_python else None,
        enabled=not args.no_bytecode,
    )
    if args.kind == "deploy":
        built = build_deployment(repo_root, out_dir, args.architecture, {}, installer, bytecode=bytecode)
    else:
        built = build_host_artifacts(repo_root, out_dir, installer, bytecode=bytecode)
    for name, archive in built.items():
        with zipfile.ZipFile(archive.path) as opened:
            manifest = json.loads(opened.read(MANIFEST_NAME))
        size_mb = manifest["unzipped_bytes"] / 1e6
        print(f"{name:14} {size_mb:7.1f} MB unzipped  {archive.path}  sha256 {archive.sha256[:16]}")
        if not manifest["bytecode"]:
            why = "--no-bytecode" if args.no_bytecode else f"no CPython {manifest['python']} found"
            print(
                f"{'':14} sources only ({why}; see --target-python): every cold start compiles"
                " every module it imports"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
