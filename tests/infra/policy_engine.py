"""The policy pack run as ``pulumi preview --policy-pack`` runs it, without the engine or a gRPC server.

pulumi_policy's own analyzer servicer (what ``PolicyPack`` serves over gRPC) receives the same protobuf
requests the engine sends: each resource's properties as a ``google.protobuf.Struct`` (numbers become
floats), which the servicer deserializes and wraps in its proxy types before calling the policies.
``Analyze`` gets one resource's inputs; ``AnalyzeStack`` gets every resource's outputs. Constructing
``PolicyPack`` itself would start the server and block, so the servicer is built directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from infra.policy_pack.policies import PACK_NAME, all_policies

# The engine's wire markers (pulumi sdk/go/common/resource/properties.go, mirrored by pulumi_policy).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def secret(value: Any) -> dict[str, Any]:
    """``value`` in the envelope the engine uses for a secret property."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def wire(value: Any) -> Any:
    """A value recorded by the mock program run (``program_run.py``) in the engine's wire form.

    The run records an archive or asset as ``{"__asset__": "FileArchive", "path": ...}``; the engine
    sends the signature envelope that pulumi_policy turns back into ``pulumi.FileArchive``.
    """
    if isinstance(value, Mapping):
        if "__asset__" in value:
            kind = ARCHIVE_SIG if str(value["__asset__"]).endswith("Archive") else ASSET_SIG
            return {SIG_KEY: kind, "path": value.get("path") or ""}
        return {key: wire(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [wire(item) for item in value]
    return value


@dataclass(frozen=True)
class Diagnostic:
    """One violation (or an advisory "can't run during preview") the pack reported."""

    policy: str
    message: str
    urn: str
    mandatory: bool


@dataclass(frozen=True)
class EngineResource:
    """A resource as the engine describes it to an analyzer."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    parent: str = ""


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(props)
    return struct


def _urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:test::agentcage::{resource_type}::{name}"


class PolicyEngine:
    """The pack's policies behind pulumi_policy's analyzer servicer, fed protobuf requests."""

    def __init__(self, policies: list[Policy] | None = None) -> None:
        self._servicer = _PolicyAnalyzerServicer(
            PACK_NAME, "0.0.1", policies or all_policies(), EnforcementLevel.MANDATORY
        )

    def analyze(self, resource_type: str, props: Mapping[str, Any], name: str = "thing") -> list[Diagnostic]:
        """Every diagnostic for one resource's inputs (the engine's ``Analyze`` call)."""
        request = proto.AnalyzeRequest(
            type=resource_type, properties=_struct(wire(props)), urn=_urn(resource_type, name), name=name
        )
        return self._diagnostics(self._servicer.Analyze(request, None))

    def analyze_stack(self, resources: Iterable[EngineResource]) -> list[Diagnostic]:
        """Every diagnostic for the whole stack's outputs (the engine's ``AnalyzeStack`` call)."""
        request = proto.AnalyzeStackRequest(
            resources=[
                proto.AnalyzerResource(
                    type=r.type, properties=_struct(wire(r.props)), urn=r.urn, name=r.name, parent=r.parent
                )
                for r in resources
            ]
        )
        return self._diagnostics(self._servicer.AnalyzeStack(request, None))

    @staticmethod
    def _diagnostics(response: Any) -> list[Diagnostic]:
        return [
            # The servicer prefixes each message with the policy's description; keep the rule's own.
            Diagnostic(
                d.policyName,
                d.message.removeprefix(f"{d.description}\n"),
                d.urn,
                d.enforcementLevel == proto.MANDATORY,
            )
            for d in response.diagnostics
        ]
