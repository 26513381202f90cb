"""What the CLI shows of a local ledger: the task list, one task's record, a task's timeline.

The same functions answer the local host's read-only routes (``GET /_agentcage/tasks``,
``/_agentcage/tasks/{task_id}``, ``/_agentcage/tasks/{task_id}/timeline``) and the CLI when it reads
a state directory's ledger directly, so ``tasks list`` and ``trace`` print the same JSON either way.
(``tasks show --url`` prints the coordinator API's view instead, which a deployed app serves too.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentcage.errors import InvalidInputError

if TYPE_CHECKING:
    from agentcage.ledger import Ledger
    from agentcage.local.server import LocalRoute

__all__ = ["MAX_LIST_LIMIT", "local_routes", "task_list", "task_record", "task_trace"]

# The per-task secret behind the task's Service Bus message ids: shown, it would let a sender pre-empt them.
_SECRET_FIELDS: set[str] = {"message_nonce"}  # a set: what pydantic's exclude= takes

MAX_LIST_LIMIT = 500


def task_list(ledger: Ledger, *, limit: int = 20, state: str | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` tasks (only those in ``state`` if given), as the ledger keeps them."""
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidInputError(f"limit must be 1-{MAX_LIST_LIMIT}, not {limit}")
    return [
        task.model_dump(mode="json", exclude=_SECRET_FIELDS)
        for task in ledger.list_tasks(limit=limit, state=state or None)
    ]


def task_record(ledger: Ledger, task_id: str) -> dict[str, Any]:
    """One task's ledger record with its pending approvals."""
    record: dict[str, Any] = ledger.get_task(task_id).model_dump(mode="json", exclude=_SECRET_FIELDS)
    record["pending_approvals"] = [a.model_dump(mode="json") for a in ledger.pending_approvals(task_id)]
    return record


def task_trace(ledger: Ledger, task_id: str) -> dict[str, Any]:
    """A task's state and its timeline rows (thoughts, decisions, calls, results), in order."""
    from agentcage.local.timeline import task_timeline

    task = ledger.get_task(task_id)
    return {
        "task_id": task_id,
        "state": task.state.value,
        "events": [entry.to_dict() for entry in task_timeline(ledger, task_id)],
    }


def local_routes(ledger: Callable[[], Ledger]) -> dict[str, LocalRoute]:
    """The local host's read-only routes over the ledger ``ledger()`` returns."""

    def tasks(_: dict[str, str], query: dict[str, str]) -> Any:
        raw = query.get("limit") or "20"
        if not raw.isdigit():
            raise InvalidInputError(f"limit must be a whole number, not {raw[:20]!r}")
        return task_list(ledger(), limit=int(raw), state=query.get("state"))

    return {
        "tasks": tasks,
        "tasks/{task_id}": lambda route, _: task_record(ledger(), route["task_id"]),
        "tasks/{task_id}/timeline": lambda route, _: task_trace(ledger(), route["task_id"]),
    }
