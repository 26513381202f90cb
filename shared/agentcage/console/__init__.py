"""The approval console for people: pending approvals with Approve/Deny, tasks with their timelines
across both clouds, and circuits; server-rendered, escaped, behind a strict Content-Security-Policy."""

from agentcage.console.app import (
    CONSOLE_PATH,
    Console,
    ConsoleRequest,
    ConsoleResponse,
    DecideFunction,
    PrincipalFunction,
    console_approval_url,
)
from agentcage.console.markup import Html, escape, render
from agentcage.console.security import CONTENT_SECURITY_POLICY, CrossSiteRequestError, check_same_origin
from agentcage.console.views import ConsoleViews, TaskAccess
from agentcage.console.waterfall import CallRow, Hop, Waterfall, build_waterfall

__all__ = [
    # the console
    "Console",
    "ConsoleRequest",
    "ConsoleResponse",
    "CONSOLE_PATH",
    "DecideFunction",
    "PrincipalFunction",
    "console_approval_url",
    # what it reads
    "ConsoleViews",
    "TaskAccess",
    # the waterfall
    "Waterfall",
    "CallRow",
    "Hop",
    "build_waterfall",
    # safety
    "Html",
    "escape",
    "render",
    "CONTENT_SECURITY_POLICY",
    "CrossSiteRequestError",
    "check_same_origin",
]
