"""Every module an artifact ships imports with only that artifact on the path; nothing else ships.

Each host artifact (``dist/host/<name>/``, built by infra/packaging.py from the same lock files and
file sets as the deployment) is imported in ``python -I -S``: the standard library and the artifact's
own ``sys.path`` folders, nothing else. A module that cannot import there must not be shipped, so a
failure names the module and the import it is missing. The library's share of each artifact must load
nothing from ``functions/`` or ``tests/``, checked both by reading its imports and by importing it.

Every module imported there must load from the bytecode the artifact ships (``__pycache__``, compiled
by the builder), never from its source: Lambda's ``/var/task`` is read-only, so a module compiled at
a cold start is compiled again at the next one.
"""

from __future__ import annotations

import json
import os
import zipfile
from datetime import UTC, datetime
from functools import cache
from importlib.util import cache_from_source
from pathlib import Path

import pytest

from infra.module_closure import module_imports
from infra.packaging import MANIFEST_NAME, NEVER_SHIPPED, host_targets
from tests.artifacts.artifact_support import (
    ARTIFACT_NAMES,
    REPO_ROOT,
    host_artifact,
    run_isolated,
)

# Imports every module named on stdin, the library's first; reports failures and what the library
# alone loaded. Stdlib only: it runs inside the artifact.
_RECORD_COMPILES = r"""
import _frozen_importlib_external as _external
compiled_from_source = []
_source_to_code = _external.SourceLoader.source_to_code
def _recording(self, data, path, *, _optimize=-1):
    compiled_from_source.append(path)  # only reached when no usable .pyc was found
    return _source_to_code(self, data, path, _optimize=_optimize)
_external.SourceLoader.source_to_code = _recording
"""
_IMPORT_ALL = (
    _RECORD_COMPILES
    + r"""
import importlib, json, sys, traceback
modules = json.loads(sys.stdin.read())
failures = {}
library_loaded = None
for name in modules:
    if library_loaded is None and not name.startswith("agentcage"):
        library_loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("functions", "tests"))
    try:
        importlib.import_module(name)
    except BaseException as error:
        missing = None
        cause = error
        while cause is not None:
            if isinstance(cause, ModuleNotFoundError):
                missing = cause.name
                break
            cause = cause.__cause__ or cause.__context__
        failures[name] = {
            "missing": missing,
            "error": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc()[-1500:],
        }
if library_loaded is None:
    library_loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("functions", "tests"))
print(json.dumps({"failures": failures, "library_loaded": library_loaded,
                  "compiled_from_source": sorted(compiled_from_source)}))
"""
)


@cache
def _import_everything(name: str) -> dict[str, object]:
    """One isolated interpreter per artifact imports all it ships (shared by the tests below)."""
    artifact = host_artifact(name)
    modules = artifact.shipped_modules()
    ordered = sorted(modules, key=lambda name: (not name.startswith("agentcage"), name))
    # -B: the tree stays as shipped (a cache written here would hide bytecode the zip lacks).
    completed = run_isolated(artifact.sys_path, _IMPORT_ALL, stdin=json.dumps(ordered), flags=("-B",))
    assert completed.returncode == 0, f"{artifact.name}: the import run crashed\n{completed.stderr[-3000:]}"
    report: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.parametrize("name", ARTIFACT_NAMES)
def test_every_shipped_module_imports_with_only_the_artifact_on_the_path(name: str) -> None:
    report = _import_everything(name)

    failures = report["failures"]
    assert isinstance(failures, dict)
    lines = [
        f"{module}: missing {failure['missing']!r}" if failure["missing"] else f"{module}: {failure['error']}"
        for module, failure in sorted(failures.items())
    ]
    details = "\n".join(f"--- {m}\n{f['traceback']}" for m, f in sorted(failures.items()))
    assert not failures, (
        f"{name} ships modules that cannot import there:\n" + "\n".join(lines) + "\n" + details
    )


@pytest.mark.parametrize("name", ARTIFACT_NAMES)
def test_the_shipped_library_loads_nothing_from_functions_or_tests(name: str) -> None:
    report = _import_everything(name)

    assert report["library_loaded"] == []


@pytest.mark.parametrize("name", ARTIFACT_NAMES)
def test_the_shipped_library_names_nothing_from_functions_or_tests(name: str) -> None:
    artifact = host_artifact(name)
    offending = []

    for module in artifact.shipped_modules():
        if not module.startswith("agentcage"):
            continue
        path = artifact.root.joinpath(*module.split("."))
        source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        offending.extend(
            f"{module} imports {imported}"
            for imported, _, _ in module_imports(module, source)
            if imported.split(".")[0] in ("functions", "tests")
        )

    assert offending == []


@pytest.mark.parametrize("name", ARTIFACT_NAMES)
def test_no_artifact_ships_the_local_runtime_the_cli_or_test_helpers(name: str) -> None:
    shipped = host_artifact(name).shipped_modules()

    banned = [m for m in shipped for prefix in NEVER_SHIPPED if m == prefix or m.startswith(prefix + ".")]

    assert banned == []
    assert shipped, f"{name} ships no code at all"


def test_each_artifact_ships_only_its_own_functions() -> None:
    shipped = {name: set(host_artifact(name).shipped_modules()) for name in ARTIFACT_NAMES}

    assert not any(m.startswith("functions") for m in shipped["function-app"])  # no Lambda code
    assert not any(m.startswith("functions.azure") for n in ARTIFACT_NAMES for m in shipped[n])
    assert not any(m.startswith("functions.aws.services.") for m in shipped["lambda-bridge"])
    assert "functions.aws.tool_executor" not in shipped["lambda-data"]
    assert "agentcage.policy.engine" not in shipped["lambda-data"]  # no Cedar, no gate
    assert "function_app" in shipped["function-app"]


def test_the_data_services_ship_without_cedar() -> None:
    artifact = host_artifact("lambda-data")

    assert not (artifact.root / "cedarpy").exists()
    assert "cedarpy" not in (REPO_ROOT / artifact.manifest["lock_file"]).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ARTIFACT_NAMES)
def test_the_manifest_describes_the_zip_it_is_in(name: str) -> None:
    artifact = host_artifact(name)
    target = host_targets(REPO_ROOT)[name]

    with zipfile.ZipFile(artifact.root.with_suffix(".zip")) as archive:
        manifest = json.loads(archive.read(MANIFEST_NAME))
        sizes = sum(info.file_size for info in archive.infolist() if info.filename != MANIFEST_NAME)

    assert manifest == dict(artifact.manifest)
    assert manifest["name"] == name
    assert manifest["entry_points"] == list(target.entry_points)
    assert manifest["lock_file"] == f"requirements/{target.lock_file.name}"
    assert manifest["unzipped_bytes"] == sizes
    assert manifest["python"] == target.dependencies.python_version
    for entry_point in manifest["entry_points"]:
        module = (
            entry_point.removesuffix(".py") if entry_point.endswith(".py") else entry_point.rpartition(".")[0]
        )
        assert Path(artifact.root, *module.split(".")).with_suffix(".py").is_file(), entry_point


# --- bytecode: what a read-only /var/task loads -------------------------------------------------------
@pytest.mark.parametrize("name", ARTIFACT_NAMES)
def test_every_module_imported_loads_from_the_bytecode_the_artifact_ships(name: str) -> None:
    artifact = host_artifact(name)

    report = _import_everything(name)

    assert artifact.manifest["bytecode"] is True  # the host interpreter always compiles host artifacts
    compiled = [path for path in report["compiled_from_source"] if path.startswith(str(artifact.root))]  # type: ignore[union-attr]
    assert compiled == [], f"{name} ships no usable bytecode for {len(compiled)} modules: {compiled[:10]}"


@pytest.mark.parametrize("name", ARTIFACT_NAMES)
def test_every_shipped_source_has_its_bytecode_beside_it_in_pycache(name: str) -> None:
    artifact = host_artifact(name)

    with zipfile.ZipFile(artifact.root.with_suffix(".zip")) as archive:
        names = set(archive.namelist())
    sources = {n for n in names if n.endswith(".py")}
    # where this interpreter looks for each source's bytecode (not the builder's idea of it)
    expected = {
        Path(cache_from_source(str(artifact.root / source))).relative_to(artifact.root).as_posix()
        for source in sources
    }

    assert sorted(expected - names)[:10] == []
    assert {n for n in names if n.endswith(".pyc")} == expected  # nothing stale, nothing for another tag


def test_the_tool_executor_runs_from_bytecode_alone_under_lambdas_1980_timestamps(tmp_path: Path) -> None:
    # GIVEN lambda-core unzipped as Lambda does it: every file dated 1980-01-01, as the zip entries
    # are, and every source replaced by a syntax error, so that reading one would fail the import
    artifact = host_artifact("lambda-core")
    copy = tmp_path / "task"
    with zipfile.ZipFile(artifact.root.with_suffix(".zip")) as archive:
        archive.extractall(copy)
    lambda_epoch = datetime(1980, 1, 1, tzinfo=UTC).timestamp()
    for path in copy.rglob("*"):
        if path.is_file() and path.suffix == ".py":
            path.write_text(")(\n", encoding="utf-8")
        os.utime(path, (lambda_epoch, lambda_epoch))
    modules = [entry.rpartition(".")[0] for entry in artifact.manifest["entry_points"]]

    # WHEN the handlers' modules are imported there
    completed = run_isolated(
        [copy],
        _RECORD_COMPILES + "import importlib, json, sys\n"
        f"for module in {modules!r}:\n    importlib.import_module(module)\n"
        "print(json.dumps(compiled_from_source))\n",
        flags=("-B",),
    )

    # THEN they import, and not one module was compiled from its source
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []


# --- pruned dependencies still do what the shipped code asks of them ---------------------------------------
# Valid IBANs of countries with and without their own stdnum module, and one whose IBAN check digits
# are right but whose Belgian account check is wrong: only stdnum.be.iban (loaded by a computed
# name) can refuse it, so it proves the country modules survived pruning.
_IBANS = {
    "BE71096123456769": True,
    "ES9121000418450200051332": True,
    "NO9386011117947": True,
    "ME25505000012345678951": True,
    "DE89370400440532013000": True,
    "GB29NWBK60161331926819": True,
    "FR1420041010050500013M02606": True,
    "NL91ABNA0417164300": True,
    "BE98096123456768": False,
}


@pytest.mark.parametrize("name", ["lambda-core", "function-app"])
def test_ibans_of_several_countries_validate_in_the_pruned_artifact(name: str) -> None:
    artifact = host_artifact(name)

    completed = run_isolated(
        artifact.sys_path,
        "import json, sys\nfrom stdnum import iban\n"
        "numbers = json.loads(sys.stdin.read())\n"
        "print(json.dumps({n: iban.is_valid(n) for n in numbers}))\n",
        stdin=json.dumps(list(_IBANS)),
        flags=("-B",),
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == _IBANS
    dependencies = artifact.sys_path[-1]
    assert (dependencies / "stdnum" / "iban.dat").is_file()
    assert not (dependencies / "stdnum" / "isbn.py").exists()  # pruned: nothing ships that reaches it
