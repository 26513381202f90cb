"""infra/packaging.py: reproducible archives, and the dependency step without a network."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest
from infra_harness import REPO_ROOT

from agentcage.errors import ConfigurationError
from infra.packaging import (
    FIXED_TIMESTAMP,
    ArchiveSource,
    PackageTarget,
    PrebuiltDependencies,
    UvInstaller,
    build_archive,
    build_deployment,
    build_package,
    targets,
)


class NoDependencies:
    """The code part only (tests never download wheels)."""

    def install(self, target: PackageTarget) -> Path | None:
        return None


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pkg" / "module.py").write_text("def f():\n    return 2\n")
    (root / "pkg" / "__pycache__" / "module.cpython-312.pyc").write_bytes(b"\x00cache")
    (root / "pkg" / "tool.sh").write_text("#!/bin/sh\n")
    (root / "pkg" / "tool.sh").chmod(0o775)
    return root


def test_two_builds_of_the_same_inputs_are_byte_identical(tree: Path, tmp_path: Path) -> None:
    first = build_archive(tmp_path / "a.zip", [ArchiveSource(tree / "pkg", "pkg")])
    os.utime(tree / "pkg" / "module.py", (1_000_000, 1_000_000))  # mtimes must not matter
    (tree / "pkg" / "module.py").chmod(0o600)  # nor non-exec permission bits
    second = build_archive(tmp_path / "b.zip", [ArchiveSource(tree / "pkg", "pkg")])
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()


def test_a_changed_file_changes_the_hash(tree: Path, tmp_path: Path) -> None:
    before = build_archive(tmp_path / "a.zip", [ArchiveSource(tree / "pkg", "pkg")])
    (tree / "pkg" / "module.py").write_text("def f():\n    return 3\n")
    after = build_archive(tmp_path / "b.zip", [ArchiveSource(tree / "pkg", "pkg")])
    assert before.sha256 != after.sha256


def test_entries_are_sorted_dated_and_moded_and_caches_are_left_out(tree: Path, tmp_path: Path) -> None:
    built = build_archive(tmp_path / "a.zip", [ArchiveSource(tree / "pkg", "lib/pkg")])
    with zipfile.ZipFile(built.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) == ["lib/pkg/__init__.py", "lib/pkg/module.py", "lib/pkg/tool.sh"]
    assert {i.date_time for i in infos} == {FIXED_TIMESTAMP}
    modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in infos}
    assert modes == {"lib/pkg/__init__.py": 0o644, "lib/pkg/module.py": 0o644, "lib/pkg/tool.sh": 0o755}


def test_two_sources_that_disagree_about_a_path_are_refused(tmp_path: Path) -> None:
    for side, text in (("a", "one"), ("b", "two")):
        (tmp_path / side).mkdir()
        (tmp_path / side / "same.py").write_text(text)
    with pytest.raises(ConfigurationError, match=r"same\.py"):
        build_archive(
            tmp_path / "x.zip", [ArchiveSource(tmp_path / "a", ""), ArchiveSource(tmp_path / "b", "")]
        )


def test_a_missing_required_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        build_archive(tmp_path / "x.zip", [ArchiveSource(tmp_path / "nope", "nope")])


def test_the_lambda_package_holds_code_library_policies_catalog_and_dependencies(tmp_path: Path) -> None:
    deps = tmp_path / "deps" / "lambda-core" / "somewheel"
    deps.mkdir(parents=True)
    (deps / "__init__.py").write_text("")
    target = targets(REPO_ROOT, "arm64")["lambda-core"]
    assert target.platform == "aarch64-manylinux_2_28"
    built = build_package(target, tmp_path / "out", PrebuiltDependencies(tmp_path / "deps"))
    names = zipfile.ZipFile(built.path).namelist()
    assert "agentcage/errors/__init__.py" in names
    assert "catalog/return_exceptions.openapi.yaml" in names
    assert "somewheel/__init__.py" in names  # dependencies at the archive root, as Lambda expects
    assert any(n.startswith("functions/aws/") for n in names)
    assert not any("__pycache__" in n for n in names)


def test_the_function_app_package_puts_dependencies_where_the_python_worker_looks(tmp_path: Path) -> None:
    deps = tmp_path / "deps" / "function-app" / "somewheel"
    deps.mkdir(parents=True)
    (deps / "__init__.py").write_text("")
    target = targets(REPO_ROOT, "x86_64")["function-app"]
    built = build_package(target, tmp_path / "out", PrebuiltDependencies(tmp_path / "deps"))
    names = zipfile.ZipFile(built.path).namelist()
    assert ".python_packages/lib/site-packages/somewheel/__init__.py" in names
    assert "agentcage/__init__.py" in names
    # the target reader signs with the executor's SigV4 transport; no other Lambda code comes along
    assert {"target_reader.py", "functions/__init__.py", "functions/aws/__init__.py"} <= set(names)
    assert "functions/aws/executor/sigv4.py" in names
    lambda_code = {n for n in names if n.startswith("functions/")}
    assert all(n.startswith("functions/aws/executor/") or n.endswith("/__init__.py") for n in lambda_code)
    assert "functions/aws/tool_executor.py" not in names


def test_the_whole_deployment_builds_twice_to_the_same_hashes(tmp_path: Path) -> None:
    generated = {"config/budget.yaml": "defaults: {}\n"}
    first = build_deployment(REPO_ROOT, tmp_path / "one", "arm64", generated, NoDependencies())
    second = build_deployment(REPO_ROOT, tmp_path / "two", "arm64", generated, NoDependencies())
    assert {k: v.sha256 for k, v in first.items()} == {k: v.sha256 for k, v in second.items()}
    assert set(first) == {"lambda-core", "lambda-bridge", "function-app"}
    assert "config/budget.yaml" in zipfile.ZipFile(first["lambda-core"].path).namelist()
    third = build_deployment(
        REPO_ROOT, tmp_path / "three", "arm64", {"config/budget.yaml": "x: 1\n"}, NoDependencies()
    )
    assert third["lambda-core"].sha256 != first["lambda-core"].sha256


def test_missing_prebuilt_dependencies_name_the_folder(tmp_path: Path) -> None:
    target = targets(REPO_ROOT, "arm64")["lambda-bridge"]
    with pytest.raises(ConfigurationError, match="lambda-bridge"):
        PrebuiltDependencies(tmp_path).install(target)


def test_uv_installer_needs_the_lock_file(tmp_path: Path) -> None:
    target = PackageTarget("lambda-core", (), tmp_path / "missing.lock", "aarch64-manylinux_2_28", "")
    with pytest.raises(ConfigurationError, match="lock file"):
        UvInstaller(tmp_path / "cache").install(target)


def test_uv_installer_installs_the_lock_for_the_target_platform_once(tmp_path: Path) -> None:
    # A stand-in `uv` records its argv and creates what `--target` asks for; no network involved.
    log = tmp_path / "argv.log"
    fake_uv = tmp_path / "uv"
    fake_uv.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{log}"\n'
        'while [ "$#" -gt 0 ]; do if [ "$1" = "--target" ]; then mkdir -p "$2/installed"; fi; shift; done\n'
    )
    fake_uv.chmod(0o755)
    lock = tmp_path / "lambda.lock"
    lock.write_text("pydantic==2.0 --hash=sha256:00\n")
    target = PackageTarget("lambda-core", (), lock, "aarch64-manylinux_2_28", "")
    installer = UvInstaller(tmp_path / "cache", uv=str(fake_uv))
    first = installer.install(target)
    second = installer.install(target)
    assert first == second
    assert (first / "installed").is_dir()
    calls = log.read_text().splitlines()
    assert len(calls) == 1  # the second install came from the cache
    argv = calls[0].split()
    for flag, value in (
        ("--python-platform", "aarch64-manylinux_2_28"),
        ("--python-version", "3.12"),
        ("-r", str(lock)),
    ):
        assert argv[argv.index(flag) + 1] == value
    assert {"--require-hashes", "--no-deps", "--only-binary"} <= set(argv)


def test_an_unknown_architecture_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="sparc"):
        targets(REPO_ROOT, "sparc")
