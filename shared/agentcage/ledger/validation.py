"""Building records from caller input: a validation failure is an InvalidInputError, never a crash.

Stored records ignore fields they do not know (:mod:`agentcage.ledger.records`), so that an older
reader survives a newer writer; building one is strict instead: a field the record does not have is
refused here, as pydantic's ``extra="forbid"`` would.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentcage.errors import InvalidInputError

__all__ = ["build"]

M = TypeVar("M", bound=BaseModel)


def build(model: type[M], **fields: Any) -> M:
    """``model(**fields)``, with pydantic's errors (and unknown fields) turned into InvalidInputError."""
    unknown = sorted(set(fields) - set(model.model_fields))
    if unknown:
        raise InvalidInputError(
            f"invalid {model.__name__}",
            details={"problems": [{"type": "extra_forbidden", "loc": [name]} for name in unknown]},
        )
    try:
        return model(**fields)
    except ValidationError as error:
        raise InvalidInputError(
            f"invalid {model.__name__}",
            details={"problems": error.errors(include_url=False, include_input=False, include_context=False)},
        ) from None
