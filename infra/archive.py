"""Deterministic zip archives: the same inputs give byte-identical files.

Entries are sorted, timestamps fixed, permissions normalised and caches excluded, so an archive's
sha256 only changes when a packaged file does, and an unchanged ``pulumi up`` updates nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentcage.errors import ConfigurationError

__all__ = [
    "FIXED_TIMESTAMP",
    "EXCLUDED_NAMES",
    "ArchiveSource",
    "BuiltArchive",
    "archive_entries",
    "build_archive",
    "sha256_file",
]

# Zip cannot store dates before 1980; every entry carries this one.
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
EXCLUDED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".DS_Store"})
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class ArchiveSource:
    """A file or folder and where it goes in the archive (``""`` = the root)."""

    path: Path
    target: str
    required: bool = True


@dataclass(frozen=True)
class BuiltArchive:
    """A built archive and its digest."""

    path: Path
    sha256: str

    @property
    def base64_sha256(self) -> str:
        """The digest as Lambda's ``source_code_hash`` expects it."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode("ascii")


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def archive_entries(sources: Sequence[ArchiveSource]) -> dict[str, Path]:
    """Archive name -> file for ``sources``; two sources that disagree about a name are refused."""
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


def _info(name: str, executable: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
    info.create_system = 3  # unix, whatever the build host, so the mode bits below are honoured
    info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def build_archive(
    destination: Path,
    sources: Sequence[ArchiveSource] = (),
    *,
    entries: Mapping[str, Path] | None = None,
    extra: Mapping[str, bytes] | None = None,
) -> BuiltArchive:
    """Write a reproducible zip of ``sources`` (or ready ``entries``) plus ``extra`` files."""
    files = dict(entries) if entries is not None else archive_entries(sources)
    texts = dict(extra or {})
    if clash := set(files) & set(texts):
        raise ConfigurationError(f"{destination.name}: generated files clash with sources: {sorted(clash)}")
    if not files and not texts:
        raise ConfigurationError(f"{destination.name}: nothing to package")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted({*files, *texts}):
            if name in texts:
                archive.writestr(_info(name, executable=False), texts[name], compresslevel=9)
                continue
            path = files[name]
            executable = bool(path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
            archive.writestr(_info(name, executable), path.read_bytes(), compresslevel=9)
    partial.replace(destination)
    return BuiltArchive(destination, sha256_file(destination))
