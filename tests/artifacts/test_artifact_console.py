"""The Function App artifact carries the console's assets and serves them from its own files."""

from __future__ import annotations

import json

from tests.artifacts.artifact_support import HostArtifact, host_artifact, run_isolated

ASSETS = ("console.css", "console.js", "favicon.svg")


def test_the_function_app_artifact_serves_every_console_asset_from_its_own_files() -> None:
    # GIVEN the built Function App artifact, alone on sys.path
    artifact: HostArtifact = host_artifact("function-app")
    code = (
        "import json\n"
        "from agentcage.console.app import _static\n"
        f"print(json.dumps({{n: [_static(n).status, len(_static(n).body)] for n in {list(ASSETS)!r}}}))\n"
    )

    # WHEN its console answers each asset route
    ran = run_isolated(artifact.sys_path, code)

    # THEN each is its file from the artifact (not the checkout), whole
    assert ran.returncode == 0, ran.stderr
    served = json.loads(ran.stdout)
    for name in ASSETS:
        shipped = artifact.root / "agentcage" / "console" / "static" / name
        assert shipped.is_file(), f"{name} is not in the artifact"
        assert served[name] == [200, shipped.stat().st_size]
