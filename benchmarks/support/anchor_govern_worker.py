"""Times the anchor: Microsoft Agent Governance Toolkit's ``agentmesh.governance.govern`` wrapper.

Run by ``benchmarks/governance_gate.py`` with the Python of its own virtual environment
(``.bench-venvs/agt``, ``agent-governance-toolkit[core]==4.1.0``), never imported by agentcage. Reads
one line of JSON, ``{"warmup", "agent_id", "role", "tool", "effect", "egress", "args"}``, checks that
the policy allows the call and that its rules bite, warms up and answers ``{"ready": true, ...}``;
then, for each line holding a number N, times N calls and answers with their latencies in
nanoseconds (a JSON list), so the benchmark can alternate short blocks of the gate and of the anchor
and both sides see the same load on a shared machine. End of input ends it.

The policy has ten rules covering the same ground as agentcage's Cedar set (toolset, approvals,
finance threshold, destructive in prod / production-like targets / protected / wrong role, egress
with PII, exhausted budget); the wrapper's default audit log (in-memory Merkle chain) is on, as it is
by default. It validates no schema and scans no PII: ``data.contains_pii`` is whatever the caller
says.
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
    spec = json.loads(sys.stdin.readline())
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
    print(json.dumps({"ready": True, "python": sys.version.split()[0]}), flush=True)
    clock = time.perf_counter_ns
    for line in sys.stdin:
        samples = []
        for _ in range(int(line)):
            before = clock()
            governed(**kwargs)
            samples.append(clock() - before)
        print(json.dumps(samples), flush=True)


if __name__ == "__main__":
    main()
