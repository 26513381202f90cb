"""Serve the agentcage policy pack: ``pulumi preview --policy-pack infra/policy_pack``.

Constructing the PolicyPack starts the analyzer server and blocks, so it happens only here.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
# The pack's own folder must not shadow other modules: import it as `infra.policy_pack.*`, as the tests do.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO_ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from infra.policy_pack.policies import PACK_NAME, all_policies  # noqa: E402

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=all_policies())
