"""Inspection: PII and secrets in outbound arguments and tool results, and prompt injection.

``scan`` finds emails, phone numbers, US SSNs, payment cards (Luhn), IBANs (mod-97), AWS access key
ids and secret keys, JWTs and PEM private keys anywhere in a JSON value; ``redact`` masks a tool
result by the tool's data classes before the model sees it; ``find_injection`` flags instruction-like
text. Findings name a kind and a place, never the matched text.
"""

from agentcage.inspect.detectors import detect
from agentcage.inspect.findings import (
    FINANCIAL_KINDS,
    INJECTION_KINDS,
    KIND_CLASSES,
    PII_KINDS,
    SECRET_KINDS,
    Finding,
    InspectionSummary,
    summarize,
)
from agentcage.inspect.injection import find_injection
from agentcage.inspect.scan import ALWAYS_REDACTED, mask, redact, scan, walk_strings

__all__ = [
    "Finding",
    "InspectionSummary",
    "scan",
    "redact",
    "find_injection",
    "summarize",
    "detect",
    "mask",
    "walk_strings",
    "PII_KINDS",
    "FINANCIAL_KINDS",
    "SECRET_KINDS",
    "INJECTION_KINDS",
    "KIND_CLASSES",
    "ALWAYS_REDACTED",
]
