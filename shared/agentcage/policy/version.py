"""The version of the policy set: one digest of every policy file and the schema, computed one way.

An approval binds the policy set it was decided under (``ApprovalRecord.policy_version``), so that a
policy change invalidates approvals decided under the old one: a person approved a call the old
policies asked about, and the new ones may judge it differently. The version is the lowercase hex
SHA-256 of the RFC 8785 canonical JSON of ``{"policies": {file name: text}, "schema": text}``, so it
depends on nothing but the files' names and contents (not their order on disk, their times, or the
folder they are in), and a verifier in another language can recompute it.

One reader, :func:`read_policy_set`, reads a folder for both the engine and this version, and the
engine versions exactly the texts it loaded (:attr:`~agentcage.policy.engine.PolicyEngine.version`):
that is the version to check an approval against where a gate decides. :func:`current_policy_version`
reads the folder found as the engine finds it by default (the argument, then ``AGENTCAGE_POLICY_DIR``,
then ``shared/policies``), once per folder per process: for code that holds no engine (the ledger
stamping an approval it is not told the version of).
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

__all__ = [
    "POLICY_FILE_PATTERN",
    "SCHEMA_FILE_NAME",
    "current_policy_version",
    "policy_set_version",
    "read_policy_set",
]

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
    return policy_set_version(*read_policy_set(Path(folder)))


def read_policy_set(folder: Path) -> tuple[dict[str, str], str]:
    """The policy files of ``folder`` as ``{file name: text}`` in name order, and its schema's text;
    :class:`PolicyLoadError` when it has no policies or no schema."""
    files = sorted(folder.glob(POLICY_FILE_PATTERN)) if folder.is_dir() else []
    schema = folder / SCHEMA_FILE_NAME
    if not files:
        raise PolicyLoadError(f"no {POLICY_FILE_PATTERN} policies in {folder}")
    if not schema.is_file():
        raise PolicyLoadError(f"no Cedar schema {SCHEMA_FILE_NAME} in {folder}")
    policies = {file.name: file.read_text(encoding="utf-8") for file in files}
    return policies, schema.read_text(encoding="utf-8")
