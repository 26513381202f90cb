"""Lambda ``refunds``: ``POST /refunds`` (``createRefund``), a financial write that happens once.

The executor sends the approval that authorised the call and the digest of its arguments as
``X-Agentcage-Approval-Id`` and ``X-Agentcage-Args-Digest``; together they are the idempotency key
(Powertools idempotency, DynamoDB persistence), so a redelivered request returns the first refund
instead of issuing a second. A request without them is refused (400): a write with no key could not
be made safe to retry. The key's same request with another body is refused too (409).

Two further guards do not depend on the idempotency record (which expires): the refund id is derived
from the key, and the refund is written with a condition that the id is new.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from agentcage.constants import APPROVAL_ID_HEADER, ARGS_DIGEST_HEADER, LOG_LEVEL_ENV
from agentcage.errors import ConflictError, InvalidInputError, NotFoundError
from functions.aws.services.api import build_resolver, error_response, json_body, serve
from functions.aws.services.dependencies import domain_repository, idempotency_persistence
from functions.aws.services.models import Refund, RefundRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["APPROVAL_ID_HEADER", "ARGS_DIGEST_HEADER", "app", "handler", "refund_id_for"]

_APPROVAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_ARGS_DIGEST = re.compile(r"[0-9a-f]{64}")
# SQS keeps a message at most 14 days: a redelivery can never come later than that.
_KEY_LIFETIME_SECONDS: Final = 14 * 24 * 3600

logger = Logger(service="refunds", level=os.environ.get(LOG_LEVEL_ENV))
app = build_resolver(logger)

_IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[approval_id, args_digest]",
    payload_validation_jmespath="request",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=_KEY_LIFETIME_SECONDS,
)


def refund_id_for(approval_id: str, args_digest: str) -> str:
    """The refund id an approval and argument digest always yield."""
    return "R-" + hashlib.sha256(f"{approval_id}\n{args_digest}".encode()).hexdigest()[:16].upper()


def _issue_refund(*, key: dict[str, Any], request: RefundRequest) -> dict[str, Any]:
    """Check the order and write the refund; runs at most once per idempotency key."""
    repository = domain_repository()
    refund_id = refund_id_for(key["approval_id"], key["args_digest"])
    existing = repository.get_refund(refund_id)
    if existing is not None:
        return existing.model_dump(mode="json", exclude_none=True)

    customer = repository.get_customer(request.customer_id)
    order = repository.get_order(request.order_id)
    if order.customer_id != customer.customer_id:
        raise NotFoundError(f"order {request.order_id} not found for customer {request.customer_id}")
    if request.currency != order.currency:
        raise ConflictError(f"order {order.order_id} is in {order.currency}, not {request.currency}")
    if request.amount_cents > order.refundable_cents:
        raise ConflictError(
            f"refund of {request.amount_cents} cents exceeds the {order.refundable_cents} cents still "
            f"refundable on order {order.order_id}",
            details={"refundable_cents": order.refundable_cents},
        )
    refund = Refund(
        refund_id=refund_id,
        order_id=order.order_id,
        customer_id=customer.customer_id,
        amount_cents=request.amount_cents,
        currency=request.currency,
        reason=request.reason,
        approval_id=key["approval_id"],
        issued_at=datetime.now(UTC),
    )
    stored = repository.record_refund(refund, order)
    logger.info("refund issued", extra={"refund_id": stored.refund_id, "order_id": order.order_id})
    return stored.model_dump(mode="json", exclude_none=True)


def _header(name: str, pattern: re.Pattern[str], what: str) -> str:
    value = app.current_event.headers.get(name)
    if not value:
        raise InvalidInputError(f"the {name} header is required (a refund is only issued once per approval)")
    if not pattern.fullmatch(value):
        raise InvalidInputError(f"the {name} header must be {what}")
    return value


@app.post("/refunds")
def create_refund() -> Response[Any]:
    """Issue the refund once per approval and argument digest; answers 201 with it every time."""
    request = json_body(app, RefundRequest)
    approval_id = _header(APPROVAL_ID_HEADER, _APPROVAL_ID, "1-128 letters, digits or ._:-")
    args_digest = _header(ARGS_DIGEST_HEADER, _ARGS_DIGEST, "64 lowercase hex digits (sha256)")
    _IDEMPOTENCY.register_lambda_context(app.lambda_context)
    issue = idempotent_function(
        _issue_refund,
        data_keyword_argument="key",
        persistence_store=idempotency_persistence(),
        config=_IDEMPOTENCY,
        key_prefix="createRefund",
    )
    key = {"approval_id": approval_id, "args_digest": args_digest, "request": request.model_dump(mode="json")}
    refund = issue(key=key, request=request)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=refund)


def _key_reused(_: IdempotencyValidationError) -> Response[Any]:
    return error_response(
        ConflictError.status,
        ConflictError.code,
        "this approval and argument digest were already used for a different refund request",
    )


def _in_progress(_: IdempotencyAlreadyInProgressError) -> Response[Any]:
    return error_response(
        ConflictError.status, ConflictError.code, "a refund for this approval is being issued; retry shortly"
    )


# Registered by call, not as decorators: Powertools' exception_handler is untyped.
app.exception_handler(IdempotencyValidationError)(_key_reused)
app.exception_handler(IdempotencyAlreadyInProgressError)(_in_progress)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``functions.aws.services.refunds.handler``)."""
    return serve(app, logger, event, context)
