"""What each smoke step reports (name, ok, seconds, detail), and the running list of them.

A step is a ``with`` block: it times itself, records ``ok=False`` with the error's message when the
block raises, and tells the listener (the console printer) as soon as it ends, so a person watching a
deployment sees progress step by step. The report ends in one JSON line a script can read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from agentcage.errors import AgentcageError

__all__ = ["StepReport", "StepFailedError", "SmokeReport", "Step"]


@dataclass
class StepReport:
    """One step's outcome: ``detail`` says what was seen (ids, counts) or why it failed."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""

    def line(self) -> str:
        """One human-readable line: ``[ ok ] name (1.2 s): detail``."""
        mark = " ok " if self.ok else "FAIL"
        return f"[{mark}] {self.name} ({self.seconds:.1f} s){': ' + self.detail if self.detail else ''}"


class StepFailedError(AgentcageError):
    """Raised inside a step to fail it with a message; :meth:`SmokeReport.step` records it, never re-raises.

    Not exported by :mod:`agentcage.errors`: it belongs to this tool, which no artifact ships.
    """

    code = "smoke_step_failed"


@dataclass
class Step:
    """The handle a step's block gets: set ``detail`` to say what it saw."""

    name: str
    detail: str = ""


@dataclass
class SmokeReport:
    """The steps run so far, in order; ``on_step`` hears each one as it ends."""

    on_step: Callable[[StepReport], None] = lambda _: None
    clock: Callable[[], float] = time.monotonic
    steps: list[StepReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every step ran and passed (an empty report has proved nothing, so it is not ok)."""
        return bool(self.steps) and all(step.ok for step in self.steps)

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Time the block; a :class:`StepFailedError` or any other exception fails the step.

        Exceptions are recorded, not swallowed silently: the report carries the message and the caller
        checks :attr:`ok` (or :meth:`passed`) before the next step.
        """
        handle = Step(name)
        started = self.clock()
        ok, detail = True, ""
        try:
            yield handle
            detail = handle.detail
        except StepFailedError as failure:
            ok, detail = False, str(failure)
        except Exception as error:  # noqa: BLE001 - any failure of a step is reported with its type, not raised
            ok, detail = False, f"{type(error).__name__}: {error}"
        report = StepReport(name, ok, round(self.clock() - started, 3), detail)
        self.steps.append(report)
        self.on_step(report)

    def passed(self, name: str) -> bool:
        """Whether the last step called ``name`` passed."""
        found = [step for step in self.steps if step.name == name]
        return bool(found) and found[-1].ok

    def summary(self, **extra: Any) -> dict[str, Any]:
        """The final JSON document: ``ok``, every step, and what the run found (task and trace ids)."""
        return {"ok": self.ok, **extra, "steps": [asdict(step) for step in self.steps]}

    def json_line(self, **extra: Any) -> str:
        """:meth:`summary` as one line of JSON."""
        return json.dumps(self.summary(**extra), sort_keys=True, separators=(",", ":"))
