"""Building records from caller input: a validation failure is an InvalidInputError, never a crash."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentcage.errors import InvalidInputError

__all__ = ["build"]

M = TypeVar("M", bound=BaseModel)


def build(model: type[M], **fields: Any) -> M:
    """``model(**fields)``, with pydantic's errors turned into InvalidInputError listing each problem."""
    try:
        return model(**fields)
    except ValidationError as error:
        raise InvalidInputError(
            f"invalid {model.__name__}",
            details={"problems": error.errors(include_url=False, include_input=False, include_context=False)},
        ) from None
