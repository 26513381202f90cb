"""Times the anchor: Microsoft Agent Governance Toolkit's ``agentmesh.governance.govern`` wrapper.

Run by ``benchmarks/governance_gate.py`` with the Python of its own virtual environment
(``.bench-venvs/agt``, ``agent-governance-toolkit[core]==4.1.0``), never imported by agentcage. Reads
``{"calls", "warmup", "agent_id", "role", "tool", "effect", "egress", "args"}`` as JSON on stdin and
prints one JSON object. The policy has ten rules covering the same ground as agentcage's Cedar set
(toolset, approvals, finance threshold, destructive in prod / production-like targets / protected /
wrong role, egress with PII, exhausted budget); the wrapper's default audit log (in-memory Merkle
chain) is on, as it is by default. It validates no schema and scans no PII: ``data.contains_pii`` is
whatever the caller says.
"""

import gc
import json
import sys
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # agentmesh-platform's rename notice
    from agentmesh.governance import GovernanceDenied, govern

POLICY = """
apiVersion: governance.toolkit/v1
name: agentcage-equivalent
default_action: deny
rules:
  - name: toolset-permit
    condition: "action.type in ['getCustomer', 'listRecentOrders', 'assessReturnException',
      'createRefund', 'negotiateVendorTerms', 'listVolumes', 'getVolume', 'deleteVolume']"
    action: allow
  - name: write-needs-approval
    condition: "action.effect == 'write'"
    action: require_approval
  - name: destructive-needs-approval
    condition: "action.effect == 'destructive'"
    action: require_approval
  - name: refund-above-threshold
    condition: "action.type == 'createRefund' and args.amount_cents > 50000"
    action: require_approval
    approvers: [finance]
  - name: destructive-forbidden-in-prod
    condition: "action.effect == 'destructive' and environment.value == 'prod'"
    action: deny
  - name: destructive-forbidden-on-production-like-target
    condition: "action.effect == 'destructive' and
      target.env in ['prod', 'production', 'production-candidate', 'prd', 'live']"
    action: deny
  - name: destructive-forbidden-on-protected-target
    condition: "action.effect == 'destructive' and target.protected == 'true'"
    action: deny
  - name: destructive-only-for-operations
    condition: "action.effect == 'destructive' and agent.role != 'operations'"
    action: deny
  - name: egress-no-sensitive-data
    condition: "action.egress and data.contains_pii"
    action: deny
  - name: budget-exhausted
    condition: "budget.exhausted"
    action: deny
"""


def _tool(**_kwargs: object) -> str:
    return "called"


def main() -> None:
    spec = json.loads(sys.stdin.read())
    governed = govern(_tool, policy=POLICY, agent_id=spec["agent_id"])
    kwargs = {
        "action": {"type": spec["tool"], "effect": spec["effect"], "egress": spec["egress"]},
        "agent": {"id": spec["agent_id"], "role": spec["role"]},
        "args": spec["args"],
        "environment": "dev",
        "target": {},
        "data": {"contains_pii": False},
        "budget": {"exhausted": False},
    }
    if governed(**kwargs) != "called":
        raise SystemExit("the anchor did not allow the equivalent call")
    # The rules must bite, or the timing would be of a policy that matches nothing.
    for probe in ({"data": {"contains_pii": True}}, {"budget": {"exhausted": True}}):
        try:
            governed(**{**kwargs, **probe})
        except GovernanceDenied:
            continue
        raise SystemExit(f"the anchor's policy did not deny {probe}")
    for _ in range(spec["warmup"]):
        governed(**kwargs)
    gc.collect()
    samples = []
    clock = time.perf_counter_ns
    started = clock()
    for _ in range(spec["calls"]):
        before = clock()
        governed(**kwargs)
        samples.append(clock() - before)
    elapsed = clock() - started
    samples.sort()
    print(
        json.dumps(
            {
                "p50_us": samples[len(samples) // 2] / 1000,
                "p99_us": samples[int(len(samples) * 0.99)] / 1000,
                "calls": len(samples),
                "calls_per_s": len(samples) / (elapsed / 1e9),
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
