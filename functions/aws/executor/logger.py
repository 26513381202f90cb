"""The part of Powertools' ``Logger`` the executor uses, as a protocol (tests pass their own)."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["ExecutorLogger"]


class ExecutorLogger(Protocol):
    """The part of Powertools' ``Logger`` the executor uses."""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at INFO."""

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at WARNING."""

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at ERROR."""

    def set_correlation_id(self, value: str | None) -> None:
        """Set the correlation id of the following lines."""

    def append_keys(self, **additional_keys: object) -> None:
        """Add keys to the following lines."""
