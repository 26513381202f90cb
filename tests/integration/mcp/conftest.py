"""The MCP gateway end to end: a local host in this process, reached by the SDK's own client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentcage.constants import LOCAL_LISTEN_HOST_ENV
from agentcage.local import LocalConfig, LocalHost, running_host

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """A local host on a free loopback port, with its own state directory, for one module."""
    state = tmp_path_factory.mktemp("agentcage-mcp-state")
    with pytest.MonkeyPatch.context() as patch:
        # Where the host listens decides whether development principals exist (loopback only).
        patch.setenv(LOCAL_LISTEN_HOST_ENV, "127.0.0.1")
        with running_host(LocalConfig(state_dir=state, port=0, retry_delay_s=0.05)) as started:
            yield started
