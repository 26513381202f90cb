"""The upper bound a model call reserves, and ``max_tokens`` clamped to what the task has left.

Why the UTF-8 byte length of the serialized request bounds its input tokens: byte-level BPE
tokenizers (GPT-2/tiktoken ``cl100k``/``o200k``, Llama 3, Mistral's Tekken) start from a vocabulary
of the 256 single bytes and only ever *merge* adjacent symbols, so every token covers at least one
byte of the text it encodes and ``tokens <= bytes``. The serialized request (messages and tool
schemas as JSON) is longer than the text the provider tokenizes: the JSON keys and quotes around
each message (``{"role":"user","content":""}`` is 29 bytes) exceed the special tokens the chat
template adds per message (3-4). ``request_overhead_tokens`` covers the few tokens that prime the
reply. A model whose tokenizer is not byte-level BPE (e.g. SentencePiece without byte fallback)
must be given an exact ``tokenizer`` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentcage.budget.limits import Usage
from agentcage.budget.pricing import ModelPrice
from agentcage.errors import BudgetExceededError

__all__ = ["ModelCallPlan", "Tokenizer", "input_token_bound", "plan_model_call", "serialize_request"]

Tokenizer = Callable[[str], int]
"""An exact token counter for a model: text in, number of tokens out."""


class ModelCallPlan(BaseModel):
    """What to reserve for a model call and the ``max_tokens`` to send with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_tokens_bound: int = Field(ge=0)
    max_tokens: int = Field(ge=1)
    reservation: Usage


def serialize_request(request: str | bytes | Mapping[str, Any] | Sequence[Any]) -> str:
    """The request as the text the bound is computed over (JSON for structured requests)."""
    if isinstance(request, bytes):
        return request.decode("utf-8", errors="replace")
    if isinstance(request, str):
        return request
    return json.dumps(request, ensure_ascii=False, separators=(",", ":"), default=str)


def input_token_bound(
    request: str | bytes | Mapping[str, Any] | Sequence[Any],
    *,
    tokenizer: Tokenizer | None = None,
    overhead_tokens: int = 0,
) -> int:
    """An upper bound on the request's input tokens: exact with a tokenizer, else its UTF-8 byte length."""
    if isinstance(request, bytes) and tokenizer is None:
        return len(request) + overhead_tokens
    text = serialize_request(request)
    counted = tokenizer(text) if tokenizer is not None else len(text.encode("utf-8"))
    return counted + overhead_tokens


def plan_model_call(
    *,
    request: str | bytes | Mapping[str, Any] | Sequence[Any],
    price: ModelPrice,
    remaining: Usage,
    requested_max_tokens: int,
    min_useful_output_tokens: int,
    tokenizer: Tokenizer | None = None,
    overhead_tokens: int = 0,
) -> ModelCallPlan:
    """Bound the call, clamp ``max_tokens`` to the remaining tokens AND cost, or refuse.

    Raises :class:`BudgetExceededError` (``details["limit"]`` names the binding limit) when no model
    step is left or when the output that still fits is below ``min_useful_output_tokens``: the call
    would be cut off before it could say anything useful, so the breaker trips instead of calling.
    """
    if requested_max_tokens < 1:
        raise ValueError("requested_max_tokens must be at least 1")
    if remaining.model_steps < 1:
        raise BudgetExceededError(
            "no model step left in this task's budget", details={"limit": "model_steps"}
        )
    bound = input_token_bound(request, tokenizer=tokenizer, overhead_tokens=overhead_tokens)
    by_tokens = remaining.tokens - bound
    by_cost = price.affordable_output_tokens(bound, remaining.cost_micro_usd)
    max_tokens = min(
        requested_max_tokens, by_tokens, by_cost if by_cost is not None else requested_max_tokens
    )
    if max_tokens < min_useful_output_tokens and max_tokens < requested_max_tokens:
        limit = "cost_micro_usd" if by_cost is not None and by_cost < by_tokens else "tokens"
        raise BudgetExceededError(
            f"only {max(max_tokens, 0)} output tokens fit in the remaining {limit} budget "
            f"(input bound {bound} tokens); below the useful minimum of {min_useful_output_tokens}",
            details={"limit": limit, "input_tokens_bound": bound, "output_tokens_left": max(max_tokens, 0)},
        )
    return ModelCallPlan(
        input_tokens_bound=bound,
        max_tokens=max_tokens,
        reservation=Usage(
            tokens=bound + max_tokens,
            cost_micro_usd=price.cost_micro_usd(bound, max_tokens),
            model_steps=1,
        ),
    )
