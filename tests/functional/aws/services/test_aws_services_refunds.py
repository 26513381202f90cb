"""refunds (createRefund): a financial write that happens once per approval and argument digest."""

from __future__ import annotations

from typing import Any

import pytest
from aws_services_support import (
    IDEMPOTENCY_TABLE,
    FakeLambdaContext,
    invoke,
    load_event,
    with_body,
    with_headers,
)

from agentcage.envelopes import args_digest
from functions.aws.services import refunds
from functions.aws.services.repository import DomainRepository

FIXTURE_APPROVAL = "apr-7d3f9c2e41b84a65"


def _refund_items(repository: DomainRepository) -> list[dict[str, Any]]:
    pages = repository.client.scan(TableName=repository.table_name)["Items"]
    return [item for item in pages if item["PK"]["S"].startswith("REFUND#") and "SEED" not in item["PK"]["S"]]


def _signed(body: dict[str, Any], approval_id: str = FIXTURE_APPROVAL) -> dict[str, Any]:
    event = with_body(load_event("create_refund"), body)
    return with_headers(event, X_Agentcage_Approval_Id=approval_id, X_Agentcage_Args_Digest=args_digest(body))


def test_refund_is_issued_with_201(repository: DomainRepository, lambda_context: FakeLambdaContext) -> None:
    # GIVEN an approved refund of Dana's order O-50001 (the fixture carries approval id and digest)
    event = load_event("create_refund")

    answer = invoke(refunds.handler, event, lambda_context)

    # THEN the refund is issued and the order is fully refunded
    assert answer.status == 201
    assert answer.body["refund_id"] == refunds.refund_id_for(
        FIXTURE_APPROVAL, event["headers"]["X-Agentcage-Args-Digest"]
    )
    assert answer.body["order_id"] == "O-50001"
    assert answer.body["customer_id"] == "C-1001"
    assert answer.body["amount_cents"] == 18999
    assert answer.body["currency"] == "USD"
    assert answer.body["status"] == "issued"
    assert answer.body["approval_id"] == FIXTURE_APPROVAL
    order = repository.get_order("O-50001")
    assert (order.refunded_cents, order.status) == (18999, "refunded")


def test_redelivered_refund_request_refunds_once(
    repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN the same request delivered twice (same approval id and argument digest)
    event = load_event("create_refund")

    first = invoke(refunds.handler, event, lambda_context)
    second = invoke(refunds.handler, event, lambda_context)

    # THEN both answers carry the same refund, one refund item exists, the order is refunded once
    assert (first.status, second.status) == (201, 201)
    assert second.body == first.body
    assert len(_refund_items(repository)) == 1
    assert repository.get_order("O-50001").refunded_cents == 18999
    # ... and the idempotency record is Powertools' own, in its table
    records = repository.client.scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    assert len(records) == 1
    assert records[0]["status"]["S"] == "COMPLETED"


def test_refund_survives_a_lost_idempotency_record(
    repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN a refund was issued and its idempotency record has since expired (deleted here)
    event = load_event("create_refund")
    first = invoke(refunds.handler, event, lambda_context)
    for record in repository.client.scan(TableName=IDEMPOTENCY_TABLE)["Items"]:
        repository.client.delete_item(TableName=IDEMPOTENCY_TABLE, Key={"id": record["id"]})

    # WHEN the request is delivered again
    again = invoke(refunds.handler, event, lambda_context)

    # THEN the refund id derived from the key finds the first refund: still one refund
    assert again.status == 201
    assert again.body["refund_id"] == first.body["refund_id"]
    assert len(_refund_items(repository)) == 1


def test_another_approval_for_the_same_order_cannot_overdraw_it(
    repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    body = {
        "customer_id": "C-1001",
        "order_id": "O-50001",
        "amount_cents": 10000,
        "currency": "USD",
        "reason": "first half",
    }
    first = invoke(refunds.handler, _signed(body, "apr-first"), lambda_context)
    body_2 = {**body, "amount_cents": 9000, "reason": "second part"}

    second = invoke(refunds.handler, _signed(body_2, "apr-second"), lambda_context)

    assert first.status == 201
    assert second.status == 409
    assert second.error_code == "conflict"
    assert second.body["error"]["details"] == {"refundable_cents": 8999}
    assert repository.get_order("O-50001").refunded_cents == 10000


def test_partially_refunded_order_refunds_only_the_remainder(
    repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN O-50002 (12999) already had 3000 refunded in the seed
    body = {
        "customer_id": "C-1002",
        "order_id": "O-50002",
        "amount_cents": 9999,
        "currency": "USD",
        "reason": "rest of it",
    }

    answer = invoke(refunds.handler, _signed(body), lambda_context)

    assert answer.status == 201
    assert repository.get_order("O-50002").refunded_cents == 12999
    over = {**body, "amount_cents": 1, "reason": "one more cent"}
    assert invoke(refunds.handler, _signed(over, "apr-other"), lambda_context).status == 409


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"customer_id": "C-9999"}, 404),
        ({"order_id": "O-99999"}, 404),
        ({"customer_id": "C-1002"}, 404),
        ({"currency": "EUR"}, 409),
        ({"amount_cents": 19000}, 409),
    ],
)
def test_refund_checks_customer_order_currency_and_balance(
    changes: dict[str, Any], status: int, lambda_context: FakeLambdaContext
) -> None:
    body = {
        "customer_id": "C-1001",
        "order_id": "O-50001",
        "amount_cents": 18999,
        "currency": "USD",
        "reason": "late return",
        **changes,
    }

    answer = invoke(refunds.handler, _signed(body), lambda_context)

    assert answer.status == status


@pytest.mark.usefixtures("dynamodb")
def test_a_failed_refund_can_be_retried_with_the_same_key(
    lambda_context: FakeLambdaContext, repository: DomainRepository
) -> None:
    # GIVEN a refund refused for a transient reason (the customer record is missing for a moment)
    event = load_event("create_refund")
    profile = repository.client.get_item(
        TableName=repository.table_name, Key={"PK": {"S": "CUSTOMER#C-1001"}, "SK": {"S": "PROFILE"}}
    )["Item"]
    repository.client.delete_item(
        TableName=repository.table_name, Key={"PK": {"S": "CUSTOMER#C-1001"}, "SK": {"S": "PROFILE"}}
    )
    assert invoke(refunds.handler, event, lambda_context).status == 404

    # WHEN it comes back and the same request is redelivered
    repository.client.put_item(TableName=repository.table_name, Item=profile)
    answer = invoke(refunds.handler, event, lambda_context)

    # THEN the error was not remembered as the outcome: the refund is issued
    assert answer.status == 201


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize(
    "headers",
    [
        {"X_Agentcage_Approval_Id": None},
        {"X_Agentcage_Args_Digest": None},
        {"X_Agentcage_Approval_Id": None, "X_Agentcage_Args_Digest": None},
        {"X_Agentcage_Args_Digest": "not-a-digest"},
        {"X_Agentcage_Args_Digest": "A" * 64},
        {"X_Agentcage_Approval_Id": "apr with spaces"},
        {"X_Agentcage_Approval_Id": ""},
    ],
)
def test_refund_without_a_valid_idempotency_key_is_refused(
    headers: dict[str, str | None], repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    event = with_headers(load_event("create_refund"), **headers)

    answer = invoke(refunds.handler, event, lambda_context)

    assert answer.status == 400
    assert answer.error_code == "invalid_input"
    assert _refund_items(repository) == []


@pytest.mark.usefixtures("dynamodb")
def test_same_key_with_a_different_body_is_409(
    lambda_context: FakeLambdaContext, repository: DomainRepository
) -> None:
    event = load_event("create_refund")
    assert invoke(refunds.handler, event, lambda_context).status == 201
    tampered = with_body(
        event,
        {
            "customer_id": "C-1001",
            "order_id": "O-50001",
            "amount_cents": 1,
            "currency": "USD",
            "reason": "other",
        },
    )

    answer = invoke(refunds.handler, tampered, lambda_context)

    assert answer.status == 409
    assert answer.error_code == "conflict"
    assert len(_refund_items(repository)) == 1


@pytest.mark.usefixtures("dynamodb")
@pytest.mark.parametrize(
    "body",
    [
        {
            "customer_id": "C-1001",
            "order_id": "O-50001",
            "amount_cents": 18999,
            "currency": "JPY",
            "reason": "late return",
        },
        {
            "customer_id": "C-1001",
            "order_id": "O-50001",
            "amount_cents": 18999,
            "currency": "USD",
            "reason": "ok",
        },
        {"customer_id": "C-1001", "order_id": "O-50001", "amount_cents": 18999, "currency": "USD"},
        {
            "customer_id": "C-1001",
            "order_id": "O-50001",
            "amount_cents": -5,
            "currency": "USD",
            "reason": "late return",
        },
        {
            "customer_id": "C-1001",
            "order_id": "50001",
            "amount_cents": 18999,
            "currency": "USD",
            "reason": "late return",
        },
        {
            "customer_id": "C-1001",
            "order_id": "O-50001",
            "amount_cents": 18999,
            "currency": "USD",
            "reason": "late",
            "refund_to": "elsewhere",
        },
    ],
)
def test_malformed_refund_fields_are_400(body: dict[str, Any], lambda_context: FakeLambdaContext) -> None:
    answer = invoke(refunds.handler, _signed(body), lambda_context)

    assert answer.status == 400
    assert answer.body["error"]["details"]["problems"]


@pytest.mark.usefixtures("dynamodb")
def test_duplicate_arriving_while_the_first_is_in_progress_is_409(
    monkeypatch: pytest.MonkeyPatch, repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN a duplicate delivery that arrives while the first is still issuing the refund
    event = load_event("create_refund")
    issue = refunds._issue_refund
    seen: list[Any] = []

    def issue_with_concurrent_duplicate(**kwargs: Any) -> dict[str, Any]:
        seen.append(invoke(refunds.handler, event, lambda_context))
        return issue(**kwargs)

    monkeypatch.setattr(refunds, "_issue_refund", issue_with_concurrent_duplicate)

    first = invoke(refunds.handler, event, lambda_context)

    # THEN the duplicate is told to retry (409) and only the first refunds
    assert first.status == 201
    assert [(answer.status, answer.error_code) for answer in seen] == [(409, "conflict")]
    assert len(_refund_items(repository)) == 1
