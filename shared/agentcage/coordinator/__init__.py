"""The coordinator: the agent loop as a library service (model steps, the gate on every call, approvals,
results, budgets, delegation to specialists), and its HTTP API independent of any web framework."""

from agentcage.coordinator.access import AccessRules, TaskAccess, requester_of
from agentcage.coordinator.core import Notifier
from agentcage.coordinator.delegation import DELEGATE_TOOL
from agentcage.coordinator.http import MAX_BODY_BYTES, CoordinatorHttp, Decision, HttpAnswer
from agentcage.coordinator.messages import Outbox, Started, StartTask, request_message_id, step_message_id
from agentcage.coordinator.service import Coordinator
from agentcage.coordinator.settings import DEFAULT_AGENT, CoordinatorSettings
from agentcage.coordinator.state import PlannedCall, StepCheckpoint, Turn, build_conversation, prompt_digest
from agentcage.coordinator.targets import NoTargetResolver, ReadToolTargetResolver, TargetResolver, ToolReader

__all__ = [
    # the service
    "Coordinator",
    "CoordinatorSettings",
    "DEFAULT_AGENT",
    "StartTask",
    "Started",
    "Outbox",
    "step_message_id",
    "request_message_id",
    "Notifier",
    "DELEGATE_TOOL",
    # who may read which task (need-to-know)
    "TaskAccess",
    "AccessRules",
    "requester_of",
    # the HTTP API
    "CoordinatorHttp",
    "HttpAnswer",
    "Decision",
    "MAX_BODY_BYTES",
    # target tags for the policy
    "TargetResolver",
    "NoTargetResolver",
    "ReadToolTargetResolver",
    "ToolReader",
    # checkpoints and conversations
    "StepCheckpoint",
    "Turn",
    "PlannedCall",
    "build_conversation",
    "prompt_digest",
]
