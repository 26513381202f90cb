"""Bytecode an artifact ships: ``__pycache__/*.pyc`` compiled by the artifact's own Python, or none.

Lambda's ``/var/task`` (and a Function App run from its package) is read-only, so an interpreter that
finds no usable ``.pyc`` compiles the module on every cold start and cannot keep the result. The
builder therefore compiles every ``.py`` an artifact ships, with an interpreter of the artifact's
target Python (:func:`find_interpreter`): this one for host artifacts; for the clouds' 3.12, one
that ``uv python find`` (downloads off) or ``PATH`` provides, or that the caller names. Bytecode is
specific to a Python minor version, so without such an interpreter the artifact ships sources only
and says so (``"bytecode": false`` in its manifest); nothing is ever compiled by another version.

The ``.pyc`` files are *unchecked-hash* pycs (PEP 552): the interpreter loads them without comparing
anything with the source. Timestamp pycs would record the build tree's mtimes, which no zip entry
keeps (every entry is dated 1980-01-01, :mod:`infra.archive`), so they would be rejected and
recompiled on every cold start; checked-hash pycs would read and hash every source on import. The
code objects are named after the archive path (``dfile``), not the build machine's, and each file is
compiled in a cache keyed by its content, the archive path and the compiler's exact version, so a
rebuild reuses the very same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Final

from agentcage.errors import ConfigurationError

__all__ = [
    "TargetInterpreter",
    "BytecodeCompiler",
    "BytecodeToolchain",
    "find_interpreter",
    "pyc_name",
]

# Run by the target interpreter (stdlib only): what it is.
_DESCRIBE: Final = (
    "import json, sys; print(json.dumps({'implementation': sys.implementation.name,"
    " 'cache_tag': sys.implementation.cache_tag, 'version': '%d.%d' % sys.version_info[:2],"
    " 'full_version': sys.version.split()[0]}))"
)
# Run by the target interpreter (stdlib only): compile each job, report the sources it could not.
_COMPILE: Final = r"""
import json, py_compile, sys
failed = []
for source, dfile, cfile in json.loads(sys.stdin.read()):
    try:
        py_compile.compile(source, cfile=cfile, dfile=dfile, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except (py_compile.PyCompileError, SyntaxError, ValueError, UnicodeDecodeError):
        failed.append(dfile)
print(json.dumps(failed))
"""
_TIMEOUT_S: Final = 900  # a whole Function App's dependencies on a busy 2-core machine


@dataclass(frozen=True)
class TargetInterpreter:
    """A CPython of the artifact's target version, and the tag its bytecode is filed under."""

    executable: str
    version: str  # "3.12"
    full_version: str  # "3.12.1"
    cache_tag: str  # "cpython-312"


def pyc_name(source_name: str, cache_tag: str) -> str:
    """Where the interpreter looks for a source's bytecode: ``pkg/__pycache__/mod.<tag>.pyc``."""
    source = PurePosixPath(source_name)
    return (source.parent / "__pycache__" / f"{source.stem}.{cache_tag}.pyc").as_posix()


def _describe(executable: str) -> TargetInterpreter | None:
    """The interpreter at ``executable``, or None when it does not run (a broken pyenv shim, say)."""
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [executable, "-I", "-c", _DESCRIBE], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    try:
        found = json.loads(completed.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    if found.get("implementation") != "cpython":
        return None
    return TargetInterpreter(executable, found["version"], found["full_version"], found["cache_tag"])


def _uv_python(uv: str, version: str) -> str | None:
    """``uv python find <version>`` without downloads: an interpreter uv knows of, else None."""
    if shutil.which(uv) is None and not Path(uv).is_file():
        return None
    environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [uv, "python", "find", "--no-project", version],
            capture_output=True, text=True, env=environment, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = completed.stdout.strip().splitlines()
    return lines[-1] if completed.returncode == 0 and lines else None


@cache
def find_interpreter(
    version: str, uv: str | None = "uv", explicit: str | None = None
) -> TargetInterpreter | None:
    """A working CPython ``version``: ``explicit``, this one, uv's, then ``python<version>`` on PATH."""
    candidates: list[str | None] = []
    if explicit:
        candidates.append(explicit)
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        candidates.append(sys.executable)
    if uv:
        candidates.append(_uv_python(uv, version))
    candidates.append(shutil.which(f"python{version}"))
    for candidate in candidates:
        if candidate is None:
            continue
        found = _describe(candidate)
        if found is not None and found.version == version:
            return found
        if candidate == explicit:
            raise ConfigurationError(f"{explicit} is not a working CPython {version}")
    return None


class BytecodeCompiler:
    """Compiles an artifact's sources with one target interpreter, through a content-keyed cache."""

    def __init__(self, interpreter: TargetInterpreter, cache_dir: Path) -> None:
        self.interpreter = interpreter
        self.cache_dir = cache_dir / interpreter.cache_tag

    def _cached(self, name: str, source: Path) -> Path:
        digest = hashlib.sha256(f"{self.interpreter.full_version}\0{name}\0".encode())
        digest.update(source.read_bytes())
        key = digest.hexdigest()
        return self.cache_dir / key[:2] / f"{key}.pyc"

    def compile(self, entries: Mapping[str, Path]) -> dict[str, Path]:
        """Archive name of each ``.py`` entry's bytecode -> the compiled file (sources that do not
        compile for the target, e.g. another version's syntax, get none: importing them fails anyway)."""
        wanted = {
            name: self._cached(name, source) for name, source in entries.items() if name.endswith(".py")
        }
        missing = [
            (str(entries[name]), name, str(cfile)) for name, cfile in wanted.items() if not cfile.is_file()
        ]
        failed: set[str] = set()
        if missing:
            failed = self._run(missing)
        tag = self.interpreter.cache_tag
        return {pyc_name(name, tag): cfile for name, cfile in wanted.items() if name not in failed}

    def _run(self, jobs: list[tuple[str, str, str]]) -> set[str]:
        # Compile into a private folder, then move each file into place: a cached file is complete.
        staging = self.cache_dir / f".partial.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        staged = [
            (source, name, str(staging / f"{index}.pyc")) for index, (source, name, _) in enumerate(jobs)
        ]
        try:
            completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [self.interpreter.executable, "-I", "-c", _COMPILE],
                input=json.dumps(staged), capture_output=True, text=True, timeout=_TIMEOUT_S, check=False,
            )  # fmt: skip
            if completed.returncode != 0:
                raise ConfigurationError(
                    f"compiling bytecode with {self.interpreter.executable} failed:"
                    f" {completed.stderr[-2000:]}"
                )
            failed = set(json.loads(completed.stdout.strip().splitlines()[-1]))
            for (_, name, cfile), (_, _, staged_file) in zip(jobs, staged, strict=True):
                if name not in failed:
                    Path(cfile).parent.mkdir(parents=True, exist_ok=True)
                    Path(staged_file).replace(cfile)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return failed


class BytecodeToolchain:
    """Per target Python, the compiler of its bytecode, or None when no such interpreter is at hand.

    ``interpreters`` names one explicitly per version (``{"3.12": "/opt/python3.12/bin/python3"}``);
    otherwise :func:`find_interpreter` looks for one. ``enabled=False`` ships sources only.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        uv: str | None = "uv",
        interpreters: Mapping[str, str] | None = None,
        enabled: bool = True,
    ) -> None:
        self.cache_dir = cache_dir
        self.uv = uv
        self.interpreters = dict(interpreters or {})
        self.enabled = enabled

    def compiler(self, python_version: str) -> BytecodeCompiler | None:
        """The compiler for ``python_version``'s bytecode, or None (the artifact ships sources only)."""
        if not self.enabled:
            return None
        interpreter = find_interpreter(python_version, self.uv, self.interpreters.get(python_version))
        return None if interpreter is None else BytecodeCompiler(interpreter, self.cache_dir)
