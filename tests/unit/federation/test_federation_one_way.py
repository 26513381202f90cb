"""Azure -> AWS credentials have one source: ``web_identity_credentials`` (botocore's fetcher)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ONE_WAY = ROOT / "shared" / "agentcage" / "federation" / "web_identity.py"
# The local runtime's stand-in for STS answers the call; it does not make it.
STANDS_IN_FOR_STS = ROOT / "shared" / "agentcage" / "local"
CALLS_STS = re.compile(r"\.assume_role_with_web_identity\(|AssumeRoleWithWebIdentityCredentialFetcher\(")


def test_only_the_one_module_exchanges_a_web_identity_for_aws_credentials() -> None:
    # GIVEN every Python module that ships (the library and both clouds' functions)
    sources = [*(ROOT / "shared" / "agentcage").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]

    # WHEN we look for code that calls STS's web-identity exchange itself
    callers = {
        path.relative_to(ROOT).as_posix()
        for path in sources
        if not path.is_relative_to(STANDS_IN_FOR_STS) and CALLS_STS.search(path.read_text(encoding="utf-8"))
    }

    # THEN only the one way does
    assert callers == {ONE_WAY.relative_to(ROOT).as_posix()}
