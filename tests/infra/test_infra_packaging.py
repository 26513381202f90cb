"""infra/packaging.py: reproducible archives, what each artifact holds, the dependency step offline,
the bytecode each ships."""

from __future__ import annotations

import json
import os
import stat
import sys
import zipfile
from importlib.util import MAGIC_NUMBER, cache_from_source
from pathlib import Path

import pytest
from infra_harness import REPO_ROOT

from agentcage.errors import ConfigurationError
from infra.bytecode import BytecodeCompiler, BytecodeToolchain, find_interpreter, pyc_name
from infra.dependencies import strip_native_libraries, trim_botocore
from infra.module_closure import import_closure
from infra.packaging import (
    FIXED_TIMESTAMP,
    MANIFEST_NAME,
    ArchiveSource,
    DependencySet,
    PrebuiltDependencies,
    UvInstaller,
    build_archive,
    build_deployment,
    build_package,
    targets,
)
from infra.pruning import PRUNE_RULES, PruneRule, dynamic_loads, prune_entries

ARTIFACTS = ("lambda-core", "lambda-data", "lambda-bridge", "function-app")
# Most tests are about what goes in, not bytecode: no interpreter is looked for.
SOURCES_ONLY = BytecodeToolchain(Path("/nonexistent"), enabled=False)


class NoDependencies:
    """The code part only (tests never download wheels)."""

    def install(self, dependencies: DependencySet) -> Path | None:
        return None


def _names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def _built(tmp_path: Path, name: str, architecture: str = "arm64") -> list[str]:
    return _names(
        build_package(
            targets(REPO_ROOT, architecture)[name], tmp_path / "out", NoDependencies(), bytecode=SOURCES_ONLY
        ).path
    )


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
    built = build_package(
        target, tmp_path / "out", PrebuiltDependencies(tmp_path / "deps"), bytecode=SOURCES_ONLY
    )
    names = _names(built.path)
    assert "agentcage/errors/__init__.py" in names
    assert "catalog/return_exceptions.openapi.yaml" in names
    assert "somewheel/__init__.py" in names  # dependencies at the archive root, as Lambda expects
    assert {"functions/aws/tool_executor.py", "functions/aws/dead_letters.py"} <= set(names)
    assert "functions/aws/ledger_sweeper.py" in names
    assert not any("__pycache__" in n for n in names)


def test_every_zip_carries_its_manifest(tmp_path: Path) -> None:
    target = targets(REPO_ROOT, "arm64")["lambda-core"]
    built = build_package(target, tmp_path / "out", NoDependencies(), bytecode=SOURCES_ONLY)
    with zipfile.ZipFile(built.path) as archive:
        manifest = json.loads(archive.read(MANIFEST_NAME))
        sizes = sum(i.file_size for i in archive.infolist() if i.filename != MANIFEST_NAME)
    assert manifest == {
        "name": "lambda-core",
        "entry_points": [
            "functions.aws.tool_executor.handler",
            "functions.aws.dead_letters.handler",
            "functions.aws.ledger_sweeper.handler",
        ],
        "lock_file": "requirements/lambda.lock",
        "unzipped_bytes": sizes,
        "platform": "aarch64-manylinux_2_28",
        "python": "3.12",
        "sys_path": [""],
        "bytecode": False,
    }


def test_the_function_app_package_carries_no_lambda_code(tmp_path: Path) -> None:
    deps = tmp_path / "deps" / "function-app" / "somewheel"
    deps.mkdir(parents=True)
    (deps / "__init__.py").write_text("")
    target = targets(REPO_ROOT, "x86_64")["function-app"]
    names = _names(
        build_package(
            target, tmp_path / "out", PrebuiltDependencies(tmp_path / "deps"), bytecode=SOURCES_ONLY
        ).path
    )
    assert ".python_packages/lib/site-packages/somewheel/__init__.py" in names
    assert {"function_app.py", "host.json", "target_reader.py", "blueprints/http_tasks.py"} <= set(names)
    # the target reader signs with the library's SigV4 transport: nothing of functions/ comes along
    assert "agentcage/transport/sigv4.py" in names
    assert not any(n.startswith("functions/") for n in names)


def test_the_data_services_ship_without_the_gate_or_its_files(tmp_path: Path) -> None:
    names = set(_built(tmp_path, "lambda-data"))
    handlers = {
        f"functions/aws/services/{s}.py" for s in ("customers", "orders", "risk", "refunds", "vendor")
    }
    assert handlers | {"functions/aws/services/volumes.py"} <= names
    assert not any(
        n.startswith(("agentcage/policy/", "agentcage/tools/", "policies/", "catalog/")) for n in names
    )
    assert not any(n.startswith("functions/aws/executor/") for n in names)
    assert "functions/aws/services/seed.py" not in names  # the local runtime's seeding stays home


@pytest.mark.parametrize("name", ARTIFACTS)
def test_no_artifact_holds_the_local_runtime_the_cli_or_test_helpers(tmp_path: Path, name: str) -> None:
    names = _built(tmp_path, name)
    banned = ("agentcage/local/", "agentcage/cli/", "agentcage/ledger/testing.py", "tests/")
    assert [n for n in names if n.startswith(banned)] == []


def test_the_whole_deployment_builds_twice_to_the_same_hashes(tmp_path: Path) -> None:
    generated = {"config/budget.yaml": "defaults: {}\n"}
    first = build_deployment(
        REPO_ROOT, tmp_path / "one", "arm64", generated, NoDependencies(), bytecode=SOURCES_ONLY
    )
    second = build_deployment(
        REPO_ROOT, tmp_path / "two", "arm64", generated, NoDependencies(), bytecode=SOURCES_ONLY
    )
    assert {k: v.sha256 for k, v in first.items()} == {k: v.sha256 for k, v in second.items()}
    assert set(first) == set(ARTIFACTS)
    assert "config/budget.yaml" in _names(first["lambda-core"].path)
    assert "config/budget.yaml" in _names(first["function-app"].path)
    assert "config/budget.yaml" not in _names(first["lambda-data"].path)  # no service reads it
    third = build_deployment(
        REPO_ROOT,
        tmp_path / "three",
        "arm64",
        {"config/budget.yaml": "x: 1\n"},
        NoDependencies(),
        bytecode=SOURCES_ONLY,
    )
    assert third["lambda-core"].sha256 != first["lambda-core"].sha256


def test_an_unchanged_artifact_is_reused_and_a_changed_one_rebuilt(tmp_path: Path) -> None:
    deps = tmp_path / "deps" / "lambda-data" / "somewheel"
    deps.mkdir(parents=True)
    (deps / "__init__.py").write_text("A = 1\n")
    target = targets(REPO_ROOT, "arm64")["lambda-data"]
    installer = PrebuiltDependencies(tmp_path / "deps")
    first = build_package(target, tmp_path / "out", installer, bytecode=SOURCES_ONLY)
    written = first.path.stat().st_mtime_ns
    again = build_package(target, tmp_path / "out", installer, bytecode=SOURCES_ONLY)
    assert (again.sha256, again.path.stat().st_mtime_ns) == (first.sha256, written)
    (deps / "__init__.py").write_text("A = 22\n")
    changed = build_package(target, tmp_path / "out", installer, bytecode=SOURCES_ONLY)
    assert changed.sha256 != first.sha256


def test_missing_prebuilt_dependencies_name_the_folder(tmp_path: Path) -> None:
    target = targets(REPO_ROOT, "arm64")["lambda-bridge"]
    with pytest.raises(ConfigurationError, match="lambda-bridge"):
        PrebuiltDependencies(tmp_path).install(target.dependencies)


def test_uv_installer_needs_the_lock_file(tmp_path: Path) -> None:
    dependencies = DependencySet("lambda-core", tmp_path / "missing.lock", "aarch64-manylinux_2_28", "3.12")
    with pytest.raises(ConfigurationError, match="lock file"):
        UvInstaller(tmp_path / "cache").install(dependencies)


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
    target = DependencySet("lambda-core", lock, "aarch64-manylinux_2_28", "3.12")
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


def _tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def test_the_closure_follows_lazy_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    lib = _tree(
        tmp_path / "lib",
        {
            "__init__.py": "",
            "entry.py": "from typing import TYPE_CHECKING\nimport yaml\n"
            "if TYPE_CHECKING:\n    from lib import typing_only\n"
            "def f():\n    from lib import lazy\n",
            "lazy.py": "from . import relative\n",
            "relative.py": "",
            "typing_only.py": "",
            "unused.py": "",
        },
    )
    closure = import_closure(["lib.entry"], {"lib": lib})
    assert set(closure.modules) == {"lib", "lib.entry", "lib.lazy", "lib.relative"}
    assert closure.third_party == {"yaml"}


def test_a_lazy_import_of_a_never_shipped_module_leaves_it_out_a_top_level_one_fails(tmp_path: Path) -> None:
    lib = _tree(
        tmp_path / "lib",
        {
            "__init__.py": "",
            "entry.py": "def f():\n    import lib.helpers\n",
            "helpers.py": "",
            "top.py": "import lib.helpers\n",
        },
    )
    closure = import_closure(["lib.entry"], {"lib": lib}, excluded=("lib.helpers",))
    assert "lib.helpers" not in closure.modules
    assert closure.left_out == {"lib.helpers"}
    with pytest.raises(ConfigurationError, match=r"lib\.top imports lib\.helpers"):
        import_closure(["lib.top"], {"lib": lib}, excluded=("lib.helpers",))


def test_the_library_may_not_import_functions_even_lazily(tmp_path: Path) -> None:
    roots = {
        "agentcage": _tree(tmp_path / "agentcage", {"__init__.py": "def f():\n    import functions.x\n"}),
        "functions": _tree(tmp_path / "functions", {"__init__.py": "", "x.py": ""}),
    }
    with pytest.raises(ConfigurationError, match="the library must not import functions"):
        import_closure(["agentcage"], roots)


def test_an_import_of_a_missing_first_party_module_fails_the_build(tmp_path: Path) -> None:
    lib = _tree(tmp_path / "lib", {"__init__.py": "", "entry.py": "from lib.gone import x\n"})
    with pytest.raises(ConfigurationError, match=r"lib\.gone"):
        import_closure(["lib.entry"], {"lib": lib})


def test_botocore_keeps_only_the_named_services_and_the_shared_files(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    for service in ("dynamodb", "sqs", "ec2"):
        (data / service / "2012-08-10").mkdir(parents=True)
    (data / "endpoints.json").write_text("{}")
    trim_botocore(tmp_path, ("dynamodb",))
    assert sorted(p.name for p in data.iterdir()) == ["dynamodb", "endpoints.json"]


def test_a_native_library_no_strip_can_read_is_left_as_the_wheel_shipped_it(tmp_path: Path) -> None:
    # An ELF header for a machine (RISC-V, 243) no binutils here handles, and a non-ELF .so.
    foreign = tmp_path / "foreign.so"
    foreign.write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + (243).to_bytes(2, "little") + b"\x00" * 64)
    text = tmp_path / "notelf.so"
    text.write_text("not a shared library")
    before = {p: p.read_bytes() for p in (foreign, text)}
    assert strip_native_libraries(tmp_path) == []
    assert {p: p.read_bytes() for p in (foreign, text)} == before


# --- bytecode -------------------------------------------------------------------------------------------
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.parametrize(
    "name", ["mod.py", "pkg/mod.py", ".python_packages/lib/site-packages/pkg/__init__.py"]
)
def test_bytecode_goes_where_the_interpreter_looks_for_it(name: str) -> None:
    expected = cache_from_source(f"/task/{name}").removeprefix("/task/")

    assert pyc_name(name, sys.implementation.cache_tag) == expected


def test_host_bytecode_is_unchecked_hash_and_the_same_from_two_cold_caches(
    tree: Path, tmp_path: Path
) -> None:
    interpreter = find_interpreter(HOST_PYTHON, None)
    assert interpreter is not None
    entries = {"pkg/__init__.py": tree / "pkg" / "__init__.py", "pkg/module.py": tree / "pkg" / "module.py"}

    first = BytecodeCompiler(interpreter, tmp_path / "cache-a").compile(entries)
    os.utime(tree / "pkg" / "module.py", (1_000_000, 1_000_000))  # mtimes must not matter
    second = BytecodeCompiler(interpreter, tmp_path / "cache-b").compile(entries)

    tag = sys.implementation.cache_tag
    assert set(first) == {f"pkg/__pycache__/__init__.{tag}.pyc", f"pkg/__pycache__/module.{tag}.pyc"}
    assert {k: v.read_bytes() for k, v in first.items()} == {k: v.read_bytes() for k, v in second.items()}
    header = first[f"pkg/__pycache__/module.{tag}.pyc"].read_bytes()[:16]
    assert header[:4] == MAGIC_NUMBER
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, source never checked (PEP 552)


def test_an_artifact_built_with_its_own_python_ships_bytecode_for_every_source(tmp_path: Path) -> None:
    target = targets(REPO_ROOT, "arm64", python_version=HOST_PYTHON)["lambda-data"]
    toolchain = BytecodeToolchain(tmp_path / "bytecode", uv=None)

    built = build_package(target, tmp_path / "out", NoDependencies(), bytecode=toolchain)

    with zipfile.ZipFile(built.path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read(MANIFEST_NAME))
    sources = [n for n in names if n.endswith(".py")]
    assert manifest["bytecode"] is True
    assert sources
    assert {n for n in names if n.endswith(".pyc")} == {
        pyc_name(n, sys.implementation.cache_tag) for n in sources
    }
    again = build_package(target, tmp_path / "again", NoDependencies(), bytecode=toolchain)
    assert again.sha256 == built.sha256


def test_without_an_interpreter_of_the_target_python_the_artifact_ships_sources_and_says_so(
    tmp_path: Path,
) -> None:
    target = targets(REPO_ROOT, "arm64", python_version="9.9")["lambda-data"]

    built = build_package(
        target, tmp_path / "out", NoDependencies(), bytecode=BytecodeToolchain(tmp_path, uv=None)
    )

    with zipfile.ZipFile(built.path) as archive:
        assert json.loads(archive.read(MANIFEST_NAME))["bytecode"] is False
        assert not any(n.endswith(".pyc") for n in archive.namelist())


def test_an_interpreter_of_another_python_is_refused_not_used(tmp_path: Path) -> None:
    toolchain = BytecodeToolchain(tmp_path, uv=None, interpreters={"9.9": sys.executable})

    with pytest.raises(ConfigurationError, match=r"not a working CPython 9\.9"):
        toolchain.compiler("9.9")


def test_a_python_on_path_that_does_not_run_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = tmp_path / "python9.9"  # what a pyenv shim without that version selected does
    shim.write_text("#!/bin/sh\necho 'pyenv: python9.9: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    assert find_interpreter.__wrapped__("9.9", None) is None


# --- pruning pure-Python dependencies ---------------------------------------------------------------------
def _entries(root: Path, files: dict[str, str]) -> dict[str, Path]:
    _tree(root, files)
    return {relative: root / relative for relative in files}


def test_pruning_keeps_what_the_code_reaches_lazily_or_not_and_drops_the_rest(tmp_path: Path) -> None:
    entries = _entries(
        tmp_path,
        {
            "lib/__init__.py": "from lib import used\n",
            "lib/used.py": "def f():\n    from lib.lazy import g\n",
            "lib/lazy.py": "",
            "lib/unused/__init__.py": "",
            "lib/unused/big.dat": "x" * 100,
            "lib/kept.json": "{}",
            "other/__init__.py": "",
        },
    )
    rules = {"lib": PruneRule("lib", keep_data=("kept.json",))}

    kept, result = prune_entries(entries, {"lib.used"}, rules=rules)

    assert set(kept) == {
        "lib/__init__.py",
        "lib/used.py",
        "lib/lazy.py",
        "lib/kept.json",
        "other/__init__.py",
    }
    assert result.dropped["lib"] == ("lib/unused/__init__.py", "lib/unused/big.dat")
    assert result.dropped_bytes["lib"] == 100


def test_a_kept_module_that_imports_by_a_computed_name_stops_the_build_unless_its_rule_covers_it(
    tmp_path: Path,
) -> None:
    entries = _entries(
        tmp_path,
        {
            "lib/__init__.py": (
                "import importlib\ndef load(n):\n    return importlib.import_module('lib.' + n)\n"
            ),
            "lib/plugin_a.py": "",
        },
    )

    with pytest.raises(ConfigurationError, match=r"lib \(line 3: importlib\.import_module\)"):
        prune_entries(entries, {"lib"}, rules={"lib": PruneRule("lib")})
    covered = PruneRule("lib", keep_modules=("lib.plugin_*",), dynamic={"lib": "plugins: all kept"})
    kept, _ = prune_entries(entries, {"lib"}, rules={"lib": covered})
    assert "lib/plugin_a.py" in kept


@pytest.mark.parametrize(
    "source",
    [
        "import pkgutil\n",
        "from importlib.resources import files\n",
        "import os\nHERE = os.path.dirname(__file__)\n",
        "x = __import__('lib.' + 'y')\n",
        "from importlib.metadata import entry_points\n",
    ],
)
def test_every_kind_of_dynamic_load_is_seen(source: str) -> None:
    assert dynamic_loads(source.encode()) != []


def test_data_files_named_by_literal_calls_are_kept_and_a_computed_name_is_refused(tmp_path: Path) -> None:
    files = {
        "num/__init__.py": "",
        "num/numdb.py": "",
        "num/iban.py": "from num import numdb\n_DB = numdb.get('iban')\n",
        "num/iban.dat": "x",
        "num/isbn.dat": "y",
    }
    rule = PruneRule("num", data_from_calls={"numdb.get": "{}.dat"})

    kept, _ = prune_entries(_entries(tmp_path / "a", files), {"num.iban"}, rules={"num": rule})

    assert "num/iban.dat" in kept
    assert "num/isbn.dat" not in kept
    files["num/iban.py"] = "from num import numdb\nNAME = 'iban'\n_DB = numdb.get(NAME)\n"
    with pytest.raises(ConfigurationError, match="names its data file at run time"):
        prune_entries(_entries(tmp_path / "b", files), {"num.iban"}, rules={"num": rule})


def test_a_package_with_native_code_is_never_pruned(tmp_path: Path) -> None:
    entries = _entries(
        tmp_path, {"lib/__init__.py": "", "lib/_speedups.cpython-312-aarch64-linux-gnu.so": ""}
    )

    with pytest.raises(ConfigurationError, match="native code"):
        prune_entries(entries, {"lib"}, rules={"lib": PruneRule("lib")})


def test_code_that_uses_a_feature_whose_files_are_dropped_stops_the_build(tmp_path: Path) -> None:
    entries = _entries(tmp_path, {"lib/__init__.py": "", "app.py": "app.enable_swagger()\n"})
    rule = PruneRule("lib", unused_features={"enable_swagger": "the Swagger UI assets"})

    with pytest.raises(ConfigurationError, match=r"app\.py uses lib's enable_swagger"):
        prune_entries(entries, {"lib"}, rules={"lib": rule}, code={"app.py": entries["app.py"]})


def test_every_allow_list_entry_explains_a_module_of_its_own_package() -> None:
    for rule in PRUNE_RULES.values():
        assert all(module.split(".")[0] == rule.package for module in rule.dynamic), rule.package
