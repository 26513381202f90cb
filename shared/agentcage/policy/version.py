"""The version of the policy set: one digest of every policy file and the schema, computed one way.

An approval binds the policy set it was decided under (``ApprovalRecord.policy_version``), so that a
policy change invalidates approvals decided under the old one: a person approved a call the old
policies asked about, and the new ones may judge it differently. The version is the lowercase hex
SHA-256 of the RFC 8785 canonical JSON of ``{"policies": {file name: text}, "schema": text}``, so it
depends on nothing but the files' names and contents (not their order on disk, their times, or the
folder they are in), and a verifier in another language can recompute it.

The folder is found as the policy engine finds it (the argument, then ``AGENTCAGE_POLICY_DIR``, then
``shared/policies``), read with the same file pattern, and read once per folder per process: the
engine, too, loads its policies once, so the version a process reports is the set it decides with.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from agentcage.constants import POLICY_DIR_ENV
from agentcage.envelopes.canonical import canonical_json
from agentcage.errors import PolicyLoadError
from agentcage.tools.catalog import data_directory

__all__ = ["POLICY_FILE_PATTERN", "SCHEMA_FILE_NAME", "current_policy_version", "policy_set_version"]

POLICY_FILE_PATTERN = "*.cedar"
SCHEMA_FILE_NAME = "schema.cedarschema"


def policy_set_version(policies: Mapping[str, str], schema: str) -> str:
    """The version of a policy set given as ``{file name: text}`` and its schema's text."""
    document = {"policies": dict(policies), "schema": schema}
    return hashlib.sha256(canonical_json(document, exact=True)).hexdigest()


def current_policy_version(directory: str | os.PathLike[str] | None = None) -> str:
    """The version of the policy set in ``directory`` (the engine's folder by default), read once.

    :class:`PolicyLoadError` when the folder has no policies or no schema (the engine would refuse it).
    """
    folder = data_directory(directory, POLICY_DIR_ENV, "policies")
    return _folder_version(str(folder.resolve()))


@functools.cache
def _folder_version(folder: str) -> str:
    path = Path(folder)
    files = sorted(path.glob(POLICY_FILE_PATTERN)) if path.is_dir() else []
    schema = path / SCHEMA_FILE_NAME
    if not files or not schema.is_file():
        raise PolicyLoadError(f"no Cedar policies and schema to version in {path}")
    policies = {file.name: file.read_text(encoding="utf-8") for file in files}
    return policy_set_version(policies, schema.read_text(encoding="utf-8"))
