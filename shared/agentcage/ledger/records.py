"""How ledger records treat fields they do not know: read tolerantly, write strictly.

A ledger is shared by processes of different versions during a rollout: a newer writer may add a
field an older reader has never heard of. Records therefore IGNORE unknown fields when read (a
malformed value of a known field is still refused), while :func:`agentcage.ledger.validation.build`,
which makes every new record, refuses a field the record does not have, so a typo in this code
never silently drops data.
"""

from __future__ import annotations

from typing import Final

from pydantic import ConfigDict

__all__ = ["LEDGER_RECORD"]

LEDGER_RECORD: Final = ConfigDict(extra="ignore", frozen=True)
"""The model configuration of every stored ledger record: immutable, tolerant of unknown fields."""
