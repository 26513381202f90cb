"""``agentcage policy test`` and ``agentcage policy explain``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agentcage.errors import InvalidInputError
from agentcage.gate.cases import DEFAULT_CASES_DIR, load_cases, run_cases
from agentcage.gate.decision import GateDecision
from agentcage.gate.gate import GovernanceGate
from agentcage.policy.context import BudgetState

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``policy`` command group."""
    group = subparsers.add_parser("policy", help="test and explain the Cedar policies")
    group.add_argument(
        "--catalog-dir", help="OpenAPI catalog folder (default: AGENTCAGE_CATALOG_DIR, shared/catalog)"
    )
    group.add_argument(
        "--policy-dir", help="Cedar policies folder (default: AGENTCAGE_POLICY_DIR, shared/policies)"
    )
    group.add_argument(
        "--agents-dir", help="agent definitions folder (default: AGENTCAGE_AGENTS_DIR, shared/agents)"
    )
    group.add_argument(
        "--finance-threshold-cents",
        type=int,
        default=None,
        help="refunds above this need a finance approver (default 50000)",
    )
    commands = group.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)

    test = commands.add_parser("test", help="run the data-driven policy cases")
    test.add_argument(
        "--cases",
        default=str(DEFAULT_CASES_DIR),
        help="folder with allow/, deny/, needs_approval/ (default: tests/policy_cases)",
    )
    test.add_argument("-v", "--verbose", action="store_true", help="print every case, not only failures")
    test.set_defaults(handler=_test)

    explain = commands.add_parser("explain", help="decide one call and say why")
    explain.add_argument("--agent", required=True, help="agent id, e.g. returns-coordinator")
    explain.add_argument("--tool", required=True, help="tool (operationId), e.g. createRefund")
    explain.add_argument("--args", required=True, help="the call's arguments as a JSON object")
    explain.add_argument("--env", default="dev", help="deployment environment (default: dev)")
    explain.add_argument("--tags", help="the target's tags as a JSON object (destructive calls)")
    explain.add_argument("--approved", action="store_true", help="evaluate as approved")
    explain.add_argument(
        "--approver-role",
        action="append",
        default=[],
        dest="approver_roles",
        help="a role of the approver (repeatable), e.g. finance",
    )
    explain.add_argument(
        "--requester-role",
        action="append",
        default=[],
        dest="requester_roles",
        help="a role of the person the task runs for (repeatable), e.g. service_rep; without any, the call "
        "has no recorded requester, whose authority is nothing",
    )
    explain.add_argument("--budget-exhausted", action="store_true", help="evaluate with the budget exhausted")
    explain.add_argument("--json", action="store_true", help="print one JSON object")
    explain.set_defaults(handler=_explain)


def _gate(args: argparse.Namespace) -> GovernanceGate:
    return GovernanceGate.from_directory(
        args.catalog_dir,
        args.policy_dir,
        args.agents_dir,
        finance_threshold_cents=args.finance_threshold_cents,
    )


def _test(args: argparse.Namespace) -> int:
    gate = _gate(args)
    results = run_cases(gate, load_cases(args.cases))
    failed = [r for r in results if not r.passed]
    for result in results:
        if args.verbose or not result.passed:
            status = "ok  " if result.passed else "FAIL"
            detail = f" ({'; '.join(result.problems)})" if result.problems else ""
            print(f"{status} {result.name}: {result.actual}{detail}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _json_option(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{name} is not valid JSON: {error}") from error


def _requester(roles: list[str]) -> Any:
    """The requester ``--requester-role`` describes (``None``: no role given, no requester)."""
    from agentcage.ledger import Requester

    if not roles:
        return None
    return Requester(kind="person", id="cli-requester", name="policy explain", roles=tuple(roles))


def _explain(args: argparse.Namespace) -> int:
    call_args = _json_option("--args", args.args)
    if not isinstance(call_args, dict):
        raise InvalidInputError(f"--args must be a JSON object, not {type(call_args).__name__}")
    tags = None
    if args.tags is not None:
        tags = _json_option("--tags", args.tags)
        if not isinstance(tags, dict) or not all(
            isinstance(v, str | int | float | bool) for v in tags.values()
        ):
            raise InvalidInputError("--tags must be a JSON object of tag names to values")
    gate = _gate(args)
    if args.agent not in gate.agents:
        raise InvalidInputError(
            f"--agent: no agent named {args.agent!r} (known: {', '.join(sorted(gate.agents))})"
        )
    if args.tool not in gate.catalog:
        raise InvalidInputError(
            f"--tool: no tool named {args.tool!r} (known: {', '.join(sorted(gate.catalog))})"
        )
    decision = gate.evaluate(
        args.agent,
        args.tool,
        call_args,
        environment=args.env,
        target_tags=tags,
        approved=args.approved,
        approver_roles=args.approver_roles,
        budget=BudgetState(exhausted=True) if args.budget_exhausted else None,
        requester=_requester(args.requester_roles),
    )
    if args.json:
        print(json.dumps(decision.to_dict(), indent=2))
    else:
        sys.stdout.write(_describe(gate, decision))
    return 0


def _describe(gate: GovernanceGate, decision: GateDecision) -> str:
    agent = gate.agents[decision.agent_id]
    tool = decision.tool
    lines = [f"decision:    {decision.decision}", f"agent:       {agent.id} (role {agent.role})"]
    if tool is not None:
        lines.append(
            f"tool:        {tool.name} ({tool.effect}, service {tool.service}, "
            f"egress {'yes' if tool.egress else 'no'}, cost {tool.cost})"
        )
    lines.append(f"policies:    {', '.join(decision.policies) or '-'}")
    obligations = ", ".join(decision.obligations) or "-"
    if decision.approver_roles:
        obligations += f" (approver role: {', '.join(decision.approver_roles)})"
    lines.append(f"obligations: {obligations}")
    if decision.error is not None:
        lines.append(f"error:       {decision.error.code}: {decision.error.message}")
        lines.extend(f"  - {p['path']}: {p['message']}" for p in decision.error.problems)
    lines.append("reasons:")
    lines.extend(f"  - {reason}" for reason in decision.reasons or ("-",))
    found = ", ".join(f"{f.kind} at {f.path}[{f.start}:{f.end}]" for f in decision.findings) or "none"
    lines.append(f"findings:    {found}")
    if decision.policy_errors:
        lines.append(f"errors:      {'; '.join(decision.policy_errors)}")
    if decision.args_digest:
        lines.append(f"args digest: {decision.args_digest}")
    return "\n".join(lines) + "\n"
