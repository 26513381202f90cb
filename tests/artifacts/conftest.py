"""The artifact tier runs against the host artifacts: build them once per session (cached by lock hash)."""

from __future__ import annotations

import pytest

from tests.artifacts.artifact_support import HostArtifact, ensure_host_artifacts


@pytest.fixture(scope="session", autouse=True)
def host_artifacts() -> dict[str, HostArtifact]:
    """Every host artifact, built with infra/packaging.py before any test of this tier runs."""
    return ensure_host_artifacts()
