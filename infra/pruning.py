"""Cut pure-Python dependencies down to the modules an artifact can reach, where that is safe.

Some distributions ship far more than an artifact uses: Powertools carries every utility (parser
models, feature flags, streaming, the OpenAPI/Swagger assets...), python-stdnum validates hundreds of
number formats with megabytes of data files, the X-Ray SDK patches a dozen frameworks. For each
package named in :data:`PRUNE_RULES`, an artifact keeps what the static import closure of its own
code reaches (every ``import``, at module level or in a function, outside ``TYPE_CHECKING``: the same
reading as :mod:`infra.module_closure`), plus what its rule keeps on purpose, and drops the rest.

Static reading cannot see a module named at run time (``importlib.import_module`` with a computed
name, ``__import__``, ``pkgutil``, entry points) nor a data file read next to a module. So every
module that survives is scanned for such loads (:func:`dynamic_loads`), and pruning a package is a
build error unless each module found is listed in its rule's ``dynamic`` allow list, with the reason
and what the rule keeps for it. Packages that carry native code are never pruned, and the
``*.dist-info`` folders are never touched (``importlib.metadata`` reads them at run time).
"""

from __future__ import annotations

import ast
import fnmatch
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from agentcage.errors import ConfigurationError
from infra.module_closure import module_imports

__all__ = ["PRUNE_RULES", "PruneRule", "PruneResult", "dynamic_loads", "prune_entries"]


@dataclass(frozen=True)
class PruneRule:
    """How far one package may be cut: what is kept beyond the closure, and why each dynamic load is safe.

    ``keep_modules`` and ``keep_data`` are ``fnmatch`` patterns over dotted module names and over
    paths relative to the package folder; ``dynamic`` maps each module that loads code or data at run
    time to the reason the kept set covers it.
    """

    package: str
    keep_modules: tuple[str, ...] = ()
    keep_data: tuple[str, ...] = ()
    dynamic: Mapping[str, str] = field(default_factory=dict)
    # A call that reads a data file of the package by a literal name -> that file (``{}`` = the name):
    # the files the kept modules name are kept, and a name that is not a literal fails the build.
    data_from_calls: Mapping[str, str] = field(default_factory=dict)
    # A feature whose files are dropped -> what it needs: the build fails if the artifact's own code
    # names it, so the allow list cannot go stale silently.
    unused_features: Mapping[str, str] = field(default_factory=dict)


_XRAY_PATCHED = (  # aws_xray_sdk.core.patcher.SUPPORTED_MODULES: patch_all() imports each by name
    "aiobotocore", "botocore", "pynamodb", "requests", "sqlite3", "mysql", "httplib", "pymongo",
    "pymysql", "psycopg2", "psycopg", "pg8000", "sqlalchemy_core", "httpx",
)  # fmt: skip

# The one place that says which dependencies are cut, what survives, and why that is safe.
PRUNE_RULES: Final[Mapping[str, PruneRule]] = {
    rule.package: rule
    for rule in (
        PruneRule(
            "aws_lambda_powertools",
            keep_modules=(
                # Tracer loads the X-Ray SDK through LazyLoader, by names held in shared.constants.
                "aws_lambda_powertools.shared.lazy_import",
                # The parser's package __getattr__ imports its models and envelopes by name.
                "aws_lambda_powertools.utilities.parser.models.*",
                "aws_lambda_powertools.utilities.parser.envelopes",
                "aws_lambda_powertools.utilities.parser.envelopes.*",
            ),
            dynamic={
                "aws_lambda_powertools": "PACKAGE_PATH = Path(__file__).parent is defined, never read",
                "aws_lambda_powertools.shared.lazy_import": "LazyLoader imports the module it is given:"
                " Tracer's aws_xray_sdk and aws_xray_sdk.core, kept by the aws_xray_sdk rule",
                "aws_lambda_powertools.utilities.parser": "__getattr__ imports .envelopes by name: kept",
                "aws_lambda_powertools.utilities.parser.models": "__getattr__ imports the model"
                " module named in _MODEL_MODULES: every parser.models module is kept",
                "aws_lambda_powertools.event_handler.api_gateway": "reads the Swagger UI bundle next to"
                " itself only in the route enable_swagger() adds without swagger_base_url: see"
                " unused_features",
            },
            unused_features={
                "enable_swagger": "the Swagger UI assets (event_handler/openapi/swagger_ui/*.js, *.css),"
                " which are not shipped: keep them in keep_data before calling it",
            },
        ),
        PruneRule(
            "aws_xray_sdk",
            keep_modules=(
                "aws_xray_sdk.core",  # Powertools' LazyLoader imports it by a computed name
                "aws_xray_sdk.core.*",
                *(f"aws_xray_sdk.ext.{name}" for name in _XRAY_PATCHED),
                *(f"aws_xray_sdk.ext.{name}.*" for name in _XRAY_PATCHED),
            ),
            keep_data=("core/sampling/local/*.json", "ext/resources/*"),
            dynamic={
                "aws_xray_sdk.core.patcher": "patch()/patch_all() import aws_xray_sdk.ext.<library> for"
                " the SUPPORTED_MODULES: all of those ext packages are kept (Django, Flask, aiohttp,"
                " Bottle and the SQLAlchemy ORM are only ever imported by an application's own code)",
                "aws_xray_sdk.core.plugins.utils": "imports aws_xray_sdk.core.plugins.<name>: all of"
                " core is kept",
                "aws_xray_sdk.core.sampling.local.sampler": "reads core/sampling/local/"
                "sampling_rule.json next to itself: kept",
                "aws_xray_sdk.ext.boto_utils": "reads ext/resources/aws_para_whitelist.json: kept",
            },
        ),
        PruneRule(
            "stdnum",
            keep_modules=(
                # iban.validate() imports stdnum.<country>.iban by name (util.get_cc_module)
                "stdnum.*.iban",
            ),
            data_from_calls={"numdb.get": "{}.dat"},
            dynamic={
                "stdnum.util": "get_cc_module() imports stdnum.<country>.<name>: iban is the only"
                " caller shipped, and every stdnum.<country>.iban is kept (missing it would silently"
                " skip that country's checks)",
                "stdnum.numdb": "get(name) reads <name>.dat with importlib.resources: the file each"
                " kept module names in a numdb.get('<name>') call is kept (data_from_calls)",
            },
        ),
    )
}


def _call_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_call_name(node.value)}.{node.attr}"
    return ""


# Calls whose last name loads a module or file chosen at run time, and modules that exist to do so.
_DYNAMIC_CALLS = frozenset(
    {"__import__", "import_module", "find_spec", "resource_stream", "resource_filename", "files",
     "entry_points", "iter_modules", "walk_packages"}
)  # fmt: skip
_DYNAMIC_MODULES = ("pkgutil", "pkg_resources", "importlib.resources", "importlib.metadata")


def dynamic_loads(source: bytes, filename: str = "<module>") -> list[tuple[int, str]]:
    """``(line, what)`` for every load static reading cannot follow: computed imports, resources,
    entry points, files found next to the module through ``__file__``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Call):
            name = _call_name(node.func)
            if name.rpartition(".")[2] in _DYNAMIC_CALLS or name.startswith(_DYNAMIC_MODULES):
                found.append((node.lineno, name))
        elif isinstance(node, ast.Name) and node.id == "__file__":
            found.append((node.lineno, "__file__"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_DYNAMIC_MODULES):
            found.append((node.lineno, f"from {node.module} import"))
        elif isinstance(node, ast.Import) and any(a.name.startswith(_DYNAMIC_MODULES) for a in node.names):
            found.append((node.lineno, "import " + ", ".join(a.name for a in node.names)))
    return sorted(set(found))


@dataclass(frozen=True)
class PruneResult:
    """What pruning left out, per package: the archive names dropped and their bytes."""

    dropped: Mapping[str, tuple[str, ...]]
    dropped_bytes: Mapping[str, int]


def _module_entry(name: str, prefix: str, entries: Mapping[str, Path]) -> str | None:
    base = prefix + name.replace(".", "/")
    for candidate in (f"{base}/__init__.py", f"{base}.py"):
        if candidate in entries:
            return candidate
    return None


def _modules_of(package: str, prefix: str, entries: Mapping[str, Path]) -> dict[str, str]:
    """Dotted name -> archive name of every module of ``package``."""
    modules: dict[str, str] = {}
    start = f"{prefix}{package}/"
    for name in entries:
        if name.startswith(start) and name.endswith(".py"):
            dotted = name[len(prefix) : -3].replace("/", ".")
            modules[dotted.removesuffix(".__init__")] = name
    return modules


def prune_entries(
    entries: Mapping[str, Path],
    seeds: Iterable[str],
    dependencies_target: str = "",
    rules: Mapping[str, PruneRule] = PRUNE_RULES,
    *,
    code: Mapping[str, Path] | None = None,
) -> tuple[dict[str, Path], PruneResult]:
    """``entries`` without what no seed can reach in the packages ``rules`` name.

    ``seeds`` are the dotted names the artifact's code (``code``: archive name -> file) and its other
    dependencies import; ``dependencies_target`` is where the dependencies sit in the archive. Raises
    :class:`ConfigurationError` when a kept module loads something dynamically that its rule does not
    account for, when the code names a feature whose files are dropped, or when a package to prune
    has native code.
    """
    prefix = f"{dependencies_target.strip('/')}/" if dependencies_target.strip("/") else ""
    present = {name: rule for name, rule in rules.items() if _module_entry(name, prefix, entries)}
    if not present:
        return dict(entries), PruneResult({}, {})
    _check_unused_features(code or {}, present)
    all_modules = {package: _modules_of(package, prefix, entries) for package in present}
    queue: deque[str] = deque(name for name in seeds if name.split(".")[0] in present)
    for package, rule in present.items():
        queue.extend(
            m for m in all_modules[package] if any(fnmatch.fnmatchcase(m, p) for p in rule.keep_modules)
        )
    kept: set[str] = set()
    while queue:
        name = queue.popleft()
        package = name.split(".")[0]
        if name in kept or package not in present:
            continue
        archive_name = all_modules[package].get(name)
        if archive_name is None:
            continue  # ``from a import b`` where b is a name in a, or an optional import that is absent
        kept.add(name)
        parts = name.split(".")
        queue.extend(".".join(parts[:depth]) for depth in range(1, len(parts)))
        for imported, _, _ in module_imports(name, entries[archive_name]):
            queue.append(imported)
    _check_dynamic_loads(kept, all_modules, entries, present)
    data = _data_named_by_calls(kept, all_modules, entries, present)
    return _drop(entries, prefix, present, kept, all_modules, data=data)


def _data_named_by_calls(
    kept: set[str],
    all_modules: Mapping[str, Mapping[str, str]],
    entries: Mapping[str, Path],
    present: Mapping[str, PruneRule],
) -> dict[str, set[str]]:
    """Package -> the data files (relative paths) its kept modules read by ``data_from_calls``."""
    named: dict[str, set[str]] = {package: set() for package in present}
    for name in sorted(kept):
        package = name.split(".")[0]
        calls = present[package].data_from_calls
        if not calls:
            continue
        source = entries[all_modules[package][name]]
        for node in ast.walk(ast.parse(source.read_bytes(), filename=str(source))):
            if not isinstance(node, ast.Call):
                continue
            called = _call_name(node.func)
            for call, pattern in calls.items():
                if called != call and not called.endswith("." + call):
                    continue
                argument = node.args[0] if node.args else None
                if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                    raise ConfigurationError(
                        f"{name} line {node.lineno}: {called}() names its data file at run time,"
                        f" so pruning {package} cannot tell which to keep"
                    )
                named[package].add(pattern.format(argument.value))
    return named


def _check_unused_features(code: Mapping[str, Path], present: Mapping[str, PruneRule]) -> None:
    for name, path in sorted(code.items()):
        if not name.endswith(".py"):
            continue
        text = path.read_text(encoding="utf-8")
        for rule in present.values():
            for feature, needs in rule.unused_features.items():
                if feature in text:
                    raise ConfigurationError(
                        f"{name} uses {rule.package}'s {feature}, which needs {needs}"
                        " (infra/pruning.py PRUNE_RULES)"
                    )


def _check_dynamic_loads(
    kept: set[str],
    all_modules: Mapping[str, Mapping[str, str]],
    entries: Mapping[str, Path],
    present: Mapping[str, PruneRule],
) -> None:
    unaccounted: list[str] = []
    for name in sorted(kept):
        package = name.split(".")[0]
        source = entries[all_modules[package][name]]
        loads = dynamic_loads(source.read_bytes(), str(source))
        if loads and name not in present[package].dynamic:
            where = ", ".join(f"line {line}: {what}" for line, what in loads[:5])
            unaccounted.append(f"{name} ({where})")
    if unaccounted:
        raise ConfigurationError(
            "cannot prune safely: these modules load code or data at run time and infra/pruning.py"
            " PRUNE_RULES does not say what covers them: " + "; ".join(unaccounted)
        )


def _drop(
    entries: Mapping[str, Path],
    prefix: str,
    present: Mapping[str, PruneRule],
    kept: set[str],
    all_modules: Mapping[str, Mapping[str, str]],
    *,
    data: Mapping[str, set[str]],
) -> tuple[dict[str, Path], PruneResult]:
    kept_files = {all_modules[name.split(".")[0]][name] for name in kept}
    result: dict[str, Path] = {}
    dropped: dict[str, list[str]] = {package: [] for package in present}
    for archive_name, path in entries.items():
        package = next((p for p in present if archive_name.startswith(f"{prefix}{p}/")), None)
        if package is None:
            result[archive_name] = path
            continue
        relative = archive_name[len(prefix) + len(package) + 1 :]
        if archive_name.endswith((".so", ".pyd")) or ".so." in archive_name:
            raise ConfigurationError(f"{package} carries native code ({archive_name}): never pruned")
        if archive_name.endswith(".py"):
            keep = archive_name in kept_files
        else:
            keep = relative in data[package] or any(
                fnmatch.fnmatchcase(relative, pattern) for pattern in present[package].keep_data
            )
        if keep:
            result[archive_name] = path
        else:
            dropped[package].append(archive_name)
    sizes = {package: sum(entries[n].stat().st_size for n in names) for package, names in dropped.items()}
    return result, PruneResult({p: tuple(sorted(n)) for p, n in dropped.items()}, sizes)
