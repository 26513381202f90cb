"""Human approval for writes: who approves, what they are shown, how they are told, what is checked."""

from agentcage.approvals.notice import ApprovalNotice, WebhookFormat, render, slack_payload, teams_payload
from agentcage.approvals.principal import (
    CLIENT_PRINCIPAL_HEADER,
    DEV_PRINCIPAL_HEADER,
    DevelopmentPrincipals,
    Principal,
    PrincipalKind,
    PrincipalSource,
    dev_principal,
    is_loopback,
    principal_from_header,
)
from agentcage.approvals.verify import ApprovalLike, check_approval
from agentcage.approvals.webhook import DeliveryOutcome, WebhookNotifier

__all__ = [
    # who approves
    "Principal",
    "PrincipalKind",
    "PrincipalSource",
    "DevelopmentPrincipals",
    "principal_from_header",
    "dev_principal",
    "is_loopback",
    "CLIENT_PRINCIPAL_HEADER",
    "DEV_PRINCIPAL_HEADER",
    # what they are shown and how they are told
    "ApprovalNotice",
    "WebhookFormat",
    "render",
    "slack_payload",
    "teams_payload",
    "WebhookNotifier",
    "DeliveryOutcome",
    # what is checked before an approved call runs
    "ApprovalLike",
    "check_approval",
]
