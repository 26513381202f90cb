"""Flags for instruction-like text in tool results (prompt injection).

A tool result is data, but a model reads it as text; a customer note or a vendor reply saying
"ignore your previous instructions" is an attack on the agent. These patterns do not block anything
by themselves: the findings are recorded in the audit log and the coordinator may quarantine the
result. They are deliberately broad phrases, case-insensitive.
"""

from __future__ import annotations

import re
from typing import Any

from agentcage.inspect.findings import Finding
from agentcage.inspect.scan import walk_strings

__all__ = ["find_injection"]

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "instruction_override",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}?"
            r"\b(?:instructions?|prompts?|rules|guidelines|directions|guardrails|polic(?:y|ies))\b"
            r"|\bnew instructions\s*:",
            re.IGNORECASE,
        ),
    ),
    (
        "role_change",
        re.compile(
            r"\byou are now\b|\bfrom now on,? you\b"
            r"|\bact as (?:an? )?(?:admin|administrator|root|developer|system)\b"
            r"|\bpretend (?:to be|you are)\b|\benter (?:developer|debug|god) mode\b",
            re.IGNORECASE,
        ),
    ),
    (
        "system_prompt",
        re.compile(
            r"\bsystem prompt\b|\bsystem message\b|\bdeveloper message\b"
            r"|<\|?(?:system|im_start|im_end)\|?>|\[/?INST\]|<<SYS>>",
            re.IGNORECASE,
        ),
    ),
    (
        "tool_call_markup",
        re.compile(
            r"\"(?:tool_calls|function_call|toolUse)\"\s*:"
            r"|\"name\"\s*:\s*\"[^\"]{1,64}\"\s*,\s*\"(?:arguments|parameters|input)\"\s*:"
            r"|</?(?:tool_call|function_calls|invoke)\b",
            re.IGNORECASE,
        ),
    ),
)


def find_injection(value: Any) -> list[Finding]:
    """Every instruction-like span in the strings of a JSON value."""
    findings: list[Finding] = []
    for path, text in walk_strings(value):
        for kind, pattern in _PATTERNS:
            findings.extend(Finding(kind, path, *match.span()) for match in pattern.finditer(text))
    findings.sort(key=lambda f: (f.path, f.start))
    return findings
