"""Loop detection: the same tool with the same argument digest, proposed K times in one task, is a loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentcage.errors import LoopDetectedError

if TYPE_CHECKING:
    from agentcage.ledger.base import Ledger

__all__ = ["LoopDetector"]


class LoopDetector:
    """Counts proposals per (task, tool, argument digest) in the ledger and stops the K-th."""

    def __init__(self, threshold: int = 3) -> None:
        if threshold < 2:
            raise ValueError("a loop needs at least two identical calls")
        self.threshold = threshold

    def check(self, ledger: Ledger, task_id: str, tool: str, args_digest: str) -> int:
        """Count this proposal and return the count; LoopDetectedError when it is the K-th identical one."""
        count = ledger.note_call(task_id, tool, args_digest)
        if count >= self.threshold:
            raise LoopDetectedError(
                f"{tool} was proposed {count} times with the same arguments; the task is looping",
                details={
                    "tool": tool,
                    "args_digest": args_digest,
                    "count": count,
                    "threshold": self.threshold,
                },
            )
        return count
