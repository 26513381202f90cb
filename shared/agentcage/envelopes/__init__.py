"""The envelopes that cross queues and clouds, canonical JSON and the argument digest."""

from agentcage.envelopes.canonical import args_digest, canonical_json, canonicalize
from agentcage.envelopes.codec import (
    HEADER_ALLOWANCE,
    MAX_BODY_BYTES,
    check_size,
    dump_envelope,
    parse_envelope,
)
from agentcage.envelopes.ids import IDENTIFIER_PATTERN, Identifier, ToolName, new_id
from agentcage.envelopes.models import (
    SCHEMA_VERSION,
    SUPPORTED_SCHEMA_VERSIONS,
    AgentStep,
    Envelope,
    RequesterClaim,
    ToolError,
    ToolRequest,
    ToolResult,
    ToolStatus,
)

__all__ = [
    # envelopes
    "Envelope",
    "AgentStep",
    "ToolRequest",
    "ToolResult",
    "RequesterClaim",
    "ToolError",
    "ToolStatus",
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    # codec
    "parse_envelope",
    "dump_envelope",
    "check_size",
    "MAX_BODY_BYTES",
    "HEADER_ALLOWANCE",
    # canonical JSON
    "canonical_json",
    "canonicalize",
    "args_digest",
    # identifiers
    "Identifier",
    "ToolName",
    "IDENTIFIER_PATTERN",
    "new_id",
]
