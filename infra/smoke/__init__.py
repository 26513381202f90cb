"""``make cloud-smoke``: prove a deployed stack end to end, and the pieces CI runs against the local runtime.

- :mod:`.flow`: the return-exception flow over the coordinator's HTTP API, step by step.
- :mod:`.insights`, :mod:`.kql`: the saved Logs Insights query and KQL search, run in the cloud, or
  evaluated over what the local runtime logged and exported.
- :mod:`.cloud`: the orchestration (deploy, publish, seed, flow, queries); ``python -m infra.smoke``.

Not part of the Pulumi program (``__main__`` never imports it) and in no artifact.
"""

from infra.smoke.cloud import REQUIRED_OUTPUTS, CloudSmoke, SmokeSettings
from infra.smoke.flow import FlowResult, ReturnExceptionFlow
from infra.smoke.insights import CloudWatchInsights, LogEvent, matching_events
from infra.smoke.kql import WorkspaceSearch, matching_rows
from infra.smoke.report import SmokeReport, StepFailedError, StepReport
from infra.smoke.tokens import TokenSource, azure_cli_token_source, credential_token_source, no_token

__all__ = [
    "CloudSmoke",
    "SmokeSettings",
    "REQUIRED_OUTPUTS",
    "ReturnExceptionFlow",
    "FlowResult",
    "CloudWatchInsights",
    "LogEvent",
    "matching_events",
    "WorkspaceSearch",
    "matching_rows",
    "SmokeReport",
    "StepReport",
    "StepFailedError",
    "TokenSource",
    "no_token",
    "azure_cli_token_source",
    "credential_token_source",
]
