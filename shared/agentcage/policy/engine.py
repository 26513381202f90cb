"""The Cedar policy engine: load and validate once, decide every call, fail closed.

Deciding ``needs_approval`` soundly. Cedar answers allow or deny; a deny lists every forbid that
matched (or none, when no permit applied). The call *needs approval* when every matching forbid
carries ``@obligation("approval")`` **and** the same request, re-evaluated as if it were approved by
every approver role the policy set can ask for (``@approver_role``), is allowed. The re-evaluation is
what makes this sound: it proves that a permit applies and that no forbid remains once approved,
instead of trusting the annotations alone (a forbid whose ``unless`` does not actually test the
approval would still deny on re-evaluation, so the call is denied, not sent to a human). The
approver roles the decision names are those of the forbids that matched.

Any evaluation error, and any request Cedar refuses, is a deny.

Request validation. Entities are validated against the schema when they are built (once per agent
and tool); the per-call context is built by one function, :func:`agentcage.policy.context.cedar_context`,
whose output the unit tests check against the schema for every policy case and for random inputs.
Validating each request again costs ~22 µs, a third of the whole gate, so it is off by default and on
with ``validate_requests=True`` (the tests run every case both ways).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import cedarpy

from agentcage.constants import POLICY_DIR_ENV
from agentcage.errors import PolicyLoadError
from agentcage.policy.context import CallContext, cedar_context
from agentcage.policy.decision import Decision
from agentcage.policy.version import policy_set_version, read_policy_set
from agentcage.tools.agents import AgentDefinition
from agentcage.tools.catalog import data_directory
from agentcage.tools.tool import Tool

__all__ = ["DEFAULT_FINANCE_THRESHOLD_CENTS", "PolicyEngine", "PolicyMeta"]

DEFAULT_FINANCE_THRESHOLD_CENTS: Final = 50_000
_ACTION: Final = {"type": "Action", "id": "call"}
# One encoder for every request's context: json.dumps with non-default separators builds a new
# encoder on each call.
_CONTEXT_JSON: Final = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class PolicyMeta:
    """What the engine knows about one policy from its annotations."""

    id: str
    effect: str
    description: str
    obligation: str | None
    approver_role: str | None
    error_code: str | None


@dataclass(slots=True)
class _Subject:
    agent: AgentDefinition
    tool: Tool
    entities: cedarpy.Entities
    request: dict[str, Any]
    """The request's principal, action and resource; each call adds its context."""


def _joined(sources: Mapping[str, str]) -> str:
    """One policy text of every file, each headed by its name (Cedar parses one set)."""
    return "\n".join(f"// --- {name}\n{text}" for name, text in sources.items())


def _policy_meta(policies: str) -> dict[str, PolicyMeta]:
    est = json.loads(cedarpy.policies_to_json_str(policies))
    meta: dict[str, PolicyMeta] = {}
    seen: set[str] = set()
    for cedar_id, policy in est.get("staticPolicies", {}).items():
        notes: Mapping[str, str] = policy.get("annotations", {})
        policy_id = notes.get("id")
        if not policy_id:
            raise PolicyLoadError(f"every policy needs an @id annotation ({cedar_id} has none)")
        if policy_id in seen:
            raise PolicyLoadError(f"@id({policy_id!r}) is used by more than one policy")
        seen.add(policy_id)
        obligation = notes.get("obligation")
        if obligation is not None and policy["effect"] != "forbid":
            raise PolicyLoadError(f"{policy_id}: only a forbid can carry an @obligation")
        meta[cedar_id] = PolicyMeta(
            id=policy_id,
            effect=policy["effect"],
            description=notes.get("description", policy_id),
            obligation=obligation,
            approver_role=notes.get("approver_role"),
            error_code=notes.get("error_code"),
        )
    if est.get("templates"):
        raise PolicyLoadError("policy templates are not supported")
    return meta


class PolicyEngine:
    """Cedar policies and schema, parsed and validated once; :meth:`decide` answers each call."""

    def __init__(
        self,
        policies: str,
        schema: str,
        *,
        finance_threshold_cents: int = DEFAULT_FINANCE_THRESHOLD_CENTS,
        validate_requests: bool = False,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        """Parse and validate ``policies`` against ``schema``; ``sources`` are the files they were
        joined from (``{file name: text}``), which :attr:`version` digests (given none, the text is
        one file, ``policies.cedar``)."""
        self.policy_texts: Mapping[str, str] = MappingProxyType(
            dict(sources) if sources is not None else {"policies.cedar": policies}
        )
        self.schema_text = schema
        self.version = policy_set_version(self.policy_texts, schema)
        """The version of exactly the policy set this engine decides with
        (:mod:`agentcage.policy.version`): what an approval checked by its decisions must bind."""
        try:
            self._schema = cedarpy.Schema.from_str(schema)
            self._policy_set = cedarpy.PolicySet.from_str(policies)
        except ValueError as error:
            raise PolicyLoadError(f"Cedar could not parse the policies or schema: {error}") from error
        result = cedarpy.validate_policies(policies, self._schema)
        if not result.validation_passed:
            names = result.id_annotations_by_policy_id
            problems = [f"{names.get(e.policy_id, e.policy_id)}: {e.error}" for e in result.errors]
            raise PolicyLoadError(
                "policies do not validate against the schema: " + "; ".join(problems),
                details={"problems": problems},
            )
        self._meta = _policy_meta(policies)
        self._approver_roles = tuple(
            sorted({m.approver_role for m in self._meta.values() if m.approver_role})
        )
        self.finance_threshold_cents = finance_threshold_cents
        self._request_schema = self._schema if validate_requests else None
        self._subjects: dict[tuple[str, str], _Subject] = {}

    @classmethod
    def from_directory(
        cls,
        directory: str | os.PathLike[str] | None = None,
        *,
        finance_threshold_cents: int | None = None,
        validate_requests: bool = False,
    ) -> PolicyEngine:
        """Load ``*.cedar`` and ``schema.cedarschema`` from ``directory`` (default:
        ``AGENTCAGE_POLICY_DIR``, then ``shared/policies``)."""
        folder = data_directory(directory, POLICY_DIR_ENV, "policies")
        sources, schema = read_policy_set(folder)
        threshold = (
            DEFAULT_FINANCE_THRESHOLD_CENTS if finance_threshold_cents is None else finance_threshold_cents
        )
        return cls(
            _joined(sources),
            schema,
            finance_threshold_cents=threshold,
            validate_requests=validate_requests,
            sources=sources,
        )

    @property
    def policies(self) -> tuple[PolicyMeta, ...]:
        """Every policy of the set, in load order."""
        return tuple(self._meta.values())

    def _subject(self, agent: AgentDefinition, tool: Tool) -> _Subject:
        key = (agent.id, tool.name)
        cached = self._subjects.get(key)
        if cached is not None and cached.agent is agent and cached.tool is tool:
            return cached
        entities = [
            {
                "uid": {"type": "Agent", "id": agent.id},
                "attrs": {
                    "role": agent.role,
                    "toolset": [{"__entity": {"type": "Tool", "id": name}} for name in agent.toolset],
                },
                "parents": [{"type": "Role", "id": agent.role}],
            },
            {"uid": {"type": "Role", "id": agent.role}, "attrs": {}, "parents": []},
            {
                "uid": {"type": "Tool", "id": tool.name},
                "attrs": {
                    "effect": tool.effect,
                    "service": tool.service,
                    "egress": tool.egress,
                    "data_classes": sorted(tool.data_classes),
                },
                "parents": [],
            },
        ]
        try:
            handle = cedarpy.Entities.from_json_str(json.dumps(entities), self._schema)
        except ValueError as error:
            raise PolicyLoadError(
                f"entities for {agent.id} -> {tool.name} do not fit the schema: {error}"
            ) from error
        request = {
            "principal": {"type": "Agent", "id": agent.id},
            "action": _ACTION,
            "resource": {"type": "Tool", "id": tool.name},
        }
        subject = _Subject(agent, tool, handle, request)
        self._subjects[key] = subject
        return subject

    def _evaluate(
        self, subject: _Subject, context: dict[str, Any]
    ) -> tuple[str, list[PolicyMeta], list[str]]:
        request = {**subject.request, "context": _CONTEXT_JSON(context)}
        try:
            result = cedarpy.is_authorized(request, self._policy_set, subject.entities, self._request_schema)
        except (ValueError, TypeError) as error:  # a request Cedar refuses is a deny, never a crash
            return "Deny", [], [f"cedar refused the request: {error}"]
        matched = [self._meta[pid] for pid in result.diagnostics.reasons if pid in self._meta]
        return result.decision.value, matched, list(result.diagnostics.errors)

    def decide(self, agent: AgentDefinition, tool: Tool, call: CallContext) -> Decision:
        """The decision for ``agent`` calling ``tool`` in ``call``'s circumstances."""
        subject = self._subject(agent, tool)
        context = cedar_context(call, finance_threshold_cents=self.finance_threshold_cents)
        verdict, matched, errors = self._evaluate(subject, context)
        if errors or verdict not in ("Allow", "Deny"):
            return Decision(
                "deny",
                tuple(m.id for m in matched),
                errors=tuple(errors) or ("no decision",),
                reasons=("the policy could not be evaluated; denied (fail closed)",),
                error_code="policy_denied",
            )
        if verdict == "Allow":
            return Decision(
                "allow", tuple(m.id for m in matched), reasons=tuple(m.description for m in matched)
            )
        return self._denied(subject, call, matched)

    def _denied(self, subject: _Subject, call: CallContext, forbids: list[PolicyMeta]) -> Decision:
        forbids = sorted(forbids, key=lambda m: m.obligation is not None)  # the hard forbids first
        ids = tuple(m.id for m in forbids)
        reasons = tuple(m.description for m in forbids)
        if not forbids:
            return Decision(
                "deny",
                reasons=(f"no policy permits {subject.agent.id} to call {subject.tool.name}",),
                error_code="policy_denied",
            )
        if any(m.obligation is None for m in forbids):
            code = next(
                (m.error_code for m in forbids if m.obligation is None and m.error_code), "policy_denied"
            )
            return Decision("deny", ids, reasons=reasons, error_code=code)
        context = cedar_context(
            call, finance_threshold_cents=self.finance_threshold_cents, approval=(True, self._approver_roles)
        )
        verdict, matched, errors = self._evaluate(subject, context)
        if verdict == "Allow" and not errors:
            return Decision(
                "needs_approval",
                ids,
                obligations=tuple(sorted({m.obligation for m in forbids if m.obligation})),
                reasons=reasons,
                approver_roles=tuple(sorted({m.approver_role for m in forbids if m.approver_role})),
                error_code="approval_required",
            )
        extra = tuple(m.id for m in matched if m.id not in ids)
        return Decision(
            "deny",
            ids + extra,
            reasons=(*reasons, "an approval would not make this call allowed"),
            errors=tuple(errors),
            error_code="policy_denied",
        )
