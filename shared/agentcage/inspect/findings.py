"""What inspection reports: a finding's kind, the data class it belongs to, and where it is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "FINANCIAL_KINDS",
    "INJECTION_KINDS",
    "KIND_CLASSES",
    "PII_KINDS",
    "SECRET_KINDS",
    "Finding",
    "InspectionSummary",
    "summarize",
]

PII_KINDS: Final = frozenset({"email", "phone", "ssn"})
FINANCIAL_KINDS: Final = frozenset({"card", "iban"})
SECRET_KINDS: Final = frozenset({"aws_access_key_id", "aws_secret_access_key", "jwt", "private_key"})
INJECTION_KINDS: Final = frozenset(
    {"instruction_override", "role_change", "system_prompt", "tool_call_markup"}
)
# The data class of each kind: redaction of a tool result masks the kinds of the tool's classes.
KIND_CLASSES: Final = {
    **dict.fromkeys(PII_KINDS, "pii"),
    **dict.fromkeys(FINANCIAL_KINDS, "financial"),
    **dict.fromkeys(SECRET_KINDS, "secrets"),
    **dict.fromkeys(INJECTION_KINDS, "injection"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """Something found in a JSON value: its kind, the JSON path of the string (``$.note``,
    ``$.items[0].sku``) and the character span inside it. It never holds the matched text, so a
    finding can go to the audit log without leaking what it found."""

    kind: str
    path: str
    start: int
    end: int

    @property
    def data_class(self) -> str:
        """``pii``, ``financial``, ``secrets`` or ``injection``."""
        return KIND_CLASSES[self.kind]

    def to_dict(self) -> dict[str, object]:
        """The finding as JSON (for audit events and ``policy explain``)."""
        return {"kind": self.kind, "path": self.path, "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class InspectionSummary:
    """What the policy needs to know about outbound arguments. Payment cards and IBANs count as PII:
    they identify a person's account, and no egress tool needs them."""

    has_pii: bool = False
    has_secrets: bool = False
    kinds: frozenset[str] = frozenset()


_EMPTY = InspectionSummary()


def summarize(findings: Iterable[Finding]) -> InspectionSummary:
    """The policy's view of a list of findings."""
    kinds = frozenset(finding.kind for finding in findings)
    if not kinds:
        return _EMPTY
    return InspectionSummary(
        has_pii=bool(kinds & (PII_KINDS | FINANCIAL_KINDS)),
        has_secrets=bool(kinds & SECRET_KINDS),
        kinds=kinds,
    )
