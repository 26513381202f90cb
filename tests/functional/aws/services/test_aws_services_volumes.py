"""volumes (listVolumes, getVolume, deleteVolume): the janitor's tools."""

from __future__ import annotations

import pytest
from aws_services_support import FakeLambdaContext, invoke, load_event, with_path

from functions.aws.services import volumes
from functions.aws.services.repository import DomainRepository

pytestmark = pytest.mark.usefixtures("dynamodb")

ALL_VOLUMES = [f"vol-0a1b2c3d4e5f6000{n}" for n in range(1, 6)]


def _listed(context: FakeLambdaContext, query: dict[str, str] | None) -> list[str]:
    event = load_event("list_volumes")
    event["queryStringParameters"] = query
    answer = invoke(volumes.handler, event, context)
    assert answer.status == 200
    return [volume["volume_id"] for volume in answer.body["volumes"]]


def test_list_filters_by_one_tag_key_and_value(lambda_context: FakeLambdaContext) -> None:
    # GIVEN the fixture asks for env=dev
    answer = invoke(volumes.handler, load_event("list_volumes"), lambda_context)

    assert answer.status == 200
    assert [(v["volume_id"], v["name"]) for v in answer.body["volumes"]] == [
        ("vol-0a1b2c3d4e5f60002", "scratch-ci-cache"),
        ("vol-0a1b2c3d4e5f60005", "legacy-backup"),
    ]
    assert answer.body["volumes"][1]["tags"] == {"protected": "true", "env": "dev"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (None, ALL_VOLUMES),
        ({"tag_key": "env"}, [ALL_VOLUMES[0], ALL_VOLUMES[1], ALL_VOLUMES[4]]),
        ({"tag_key": "env", "tag_value": "production-candidate"}, [ALL_VOLUMES[0]]),
        ({"tag_key": "environment", "tag_value": "Production"}, [ALL_VOLUMES[2]]),
        ({"tag_key": "environment", "tag_value": "production"}, []),
        ({"tag_key": "nothing"}, []),
    ],
)
def test_list_without_and_with_filters(
    query: dict[str, str] | None, expected: list[str], lambda_context: FakeLambdaContext
) -> None:
    assert _listed(lambda_context, query) == expected


@pytest.mark.parametrize(
    "query", [{"tag_value": "dev"}, {"tag_key": "k" * 129}, {"tag_key": "env", "tag_value": "v" * 257}]
)
def test_invalid_filters_are_400(query: dict[str, str], lambda_context: FakeLambdaContext) -> None:
    event = load_event("list_volumes")
    event["queryStringParameters"] = query

    assert invoke(volumes.handler, event, lambda_context).status == 400


def test_get_volume_returns_its_tags(lambda_context: FakeLambdaContext) -> None:
    answer = invoke(volumes.handler, load_event("get_volume"), lambda_context)

    assert answer.status == 200
    assert answer.body == {
        "volume_id": "vol-0a1b2c3d4e5f60001",
        "name": "orders-db-data",
        "size_gib": 500,
        "state": "in-use",
        "tags": {"env": "production-candidate", "team": "orders"},
    }


@pytest.mark.parametrize(
    "volume_id", ["vol-XYZ", "vol-0a1b", "vol-0a1b2c3d4e5f600011", "i-0a1b2c3d4e5f60001"]
)
def test_volume_id_outside_the_pattern_is_400(volume_id: str, lambda_context: FakeLambdaContext) -> None:
    event = with_path(load_event("get_volume"), f"/volumes/{volume_id}", volume_id=volume_id)

    assert invoke(volumes.handler, event, lambda_context).status == 400


def test_delete_then_get_list_and_delete_again(
    repository: DomainRepository, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN scratch-ci-cache exists
    delete = load_event("delete_volume")

    # WHEN it is deleted
    answer = invoke(volumes.handler, delete, lambda_context)

    # THEN the answer says so, it is gone from reads and lists, and a second delete is 404
    assert answer.status == 200
    assert answer.body == {"volume_id": "vol-0a1b2c3d4e5f60002", "deleted": True}
    get = with_path(
        load_event("get_volume"), "/volumes/vol-0a1b2c3d4e5f60002", volume_id="vol-0a1b2c3d4e5f60002"
    )
    assert invoke(volumes.handler, get, lambda_context).status == 404
    assert "vol-0a1b2c3d4e5f60002" not in _listed(lambda_context, None)
    again = invoke(volumes.handler, delete, lambda_context)
    assert again.status == 404
    assert again.error_code == "not_found"
    # ... the record stays, marked deleted, for the audit trail
    stored = repository.client.get_item(
        TableName=repository.table_name,
        Key={"PK": {"S": "VOLUMES"}, "SK": {"S": "VOLUME#vol-0a1b2c3d4e5f60002"}},
    )["Item"]
    assert stored["state"]["S"] == "deleted"
    assert stored["deleted_at"]["S"]


def test_deleting_an_unknown_volume_is_404(lambda_context: FakeLambdaContext) -> None:
    event = with_path(
        load_event("delete_volume"), "/volumes/vol-0000000000000000f", volume_id="vol-0000000000000000f"
    )

    assert invoke(volumes.handler, event, lambda_context).status == 404


def test_post_on_volumes_is_405(lambda_context: FakeLambdaContext) -> None:
    event = load_event("list_volumes")
    event["httpMethod"] = "POST"

    answer = invoke(volumes.handler, event, lambda_context)

    assert answer.status == 405
    assert answer.headers["allow"] == "GET"
    delete_on_list = load_event("get_volume")
    delete_on_list["httpMethod"] = "PUT"
    assert invoke(volumes.handler, delete_on_list, lambda_context).headers["allow"] == "DELETE, GET"
