"""The coordinator's read path for target tags: Entra token -> STS web identity -> SigV4 GET getVolume.

A loopback stand-in for API Gateway records each request (path, SigV4 key, session token) and answers
as the volumes service would; STS is botocore's Stubber, so the exchange's arguments are checked and the
signing key provably comes from the assumed role's credentials.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.stub import Stubber

from agentcage.constants import API_BASE_URL_ENV, FEDERATION_AUDIENCE_ENV, TARGET_READER_ROLE_ARN_ENV
from agentcage.coordinator import NoTargetResolver, ReadToolTargetResolver
from agentcage.errors import ToolNotAllowedError
from agentcage.federation import web_identity_credentials
from agentcage.tools import Catalog
from functions.aws.executor import SigV4ApiGatewayTransport
from tests.functional.azure.azure_support import APP_DIR

ROLE_ARN = "arn:aws:iam::123456789012:role/agentcage-dev-target-reader"
AUDIENCE = "api://agentcage-dev"
ACCESS_KEY = "ASIAEXAMPLEREADER"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEREADERTOKEN"  # an example value, nothing real
VOLUMES = {
    "vol-0de0de0de0": {"environment": "dev", "owner": "janitor"},
    "vol-0a1b2c3d4e": {"environment": "production-candidate"},
}
CREDENTIAL = re.compile(
    r"Credential=(?P<key>[A-Z0-9]+)/\d{8}/(?P<region>[a-z0-9-]+)/execute-api/aws4_request"
)


class VolumesStandIn(BaseHTTPRequestHandler):
    """GET /test/volumes/{id} as API Gateway + the volumes service would answer it; records requests."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        match = CREDENTIAL.search(self.headers.get("Authorization", ""))
        self.seen.append(
            {
                "path": self.path,
                "key": match["key"] if match else "",
                "region": match["region"] if match else "",
                "token": self.headers.get("X-Amz-Security-Token", ""),
            }
        )
        volume_id = self.path.removeprefix("/test/volumes/")
        if match is None:
            self._answer(403, {"message": "Missing Authentication Token"})
        elif volume_id in VOLUMES:
            self._answer(200, {"volume_id": volume_id, "size_gb": 10, "tags": VOLUMES[volume_id]})
        else:
            self._answer(404, {"error": {"code": "volume_not_found", "message": "no such volume"}})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


class EntraStandIn:
    """An azure-identity credential that records the scopes it was asked for."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: Any) -> Any:
        self.scopes.extend(scopes)
        return type("AccessToken", (), {"token": "entra-token-for-the-coordinator", "expires_on": 0})()


@pytest.fixture(scope="module")
def target_reader() -> Any:
    """``target_reader.py``, a top-level module of the app folder, imported as the Functions host would.

    Only that module: loading the whole app here (at collection) would pin blueprints to a ``runtime``
    module that other tests' app loaders later replace.
    """
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    return importlib.import_module("target_reader")


@pytest.fixture
def api() -> Iterator[str]:
    VolumesStandIn.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), VolumesStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/test"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sts(target_reader: Any) -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sts", region_name="eu-west-1", config=Config(signature_version=UNSIGNED))
    stubber = Stubber(client)
    stubber.add_response(
        "assume_role_with_web_identity",
        {
            "Credentials": {
                "AccessKeyId": ACCESS_KEY,
                "SecretAccessKey": "example-secret-for-signing-only",
                "SessionToken": SESSION_TOKEN,
                "Expiration": datetime.now(UTC) + timedelta(hours=1),
            },
            "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:agentcage-target-reader", "Arn": ROLE_ARN},
        },
        {
            "RoleArn": ROLE_ARN,
            "RoleSessionName": target_reader.SESSION_NAME,
            "WebIdentityToken": "entra-token-for-the-coordinator",
            "DurationSeconds": 3600,
        },
    )
    with stubber:
        yield client, stubber


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_directory()


def resolver_for(
    target_reader: Any, api: str, sts_client: Any, catalog: Catalog, entra: EntraStandIn
) -> ReadToolTargetResolver:
    credentials = web_identity_credentials(
        role_arn=ROLE_ARN,
        audience=AUDIENCE,
        credential=entra,  # type: ignore[arg-type]
        session_name=target_reader.SESSION_NAME,
        client_creator=lambda *_, **__: sts_client,
    )
    transport = SigV4ApiGatewayTransport(api, region="eu-west-1", credentials=credentials)
    return ReadToolTargetResolver(target_reader.ApiToolReader(catalog, transport))


def test_the_target_tags_are_read_from_the_service_as_the_federated_reader_role(
    target_reader: Any, api: str, sts: tuple[Any, Stubber], catalog: Catalog
) -> None:
    # GIVEN the coordinator's resolver: Entra token -> the target reader role -> SigV4 GET
    entra = EntraStandIn()
    resolver = resolver_for(target_reader, api, sts[0], catalog, entra)
    delete = catalog["deleteVolume"]
    assert delete.target is not None

    # WHEN a destructive call's target is resolved, twice
    first = resolver.resolve(delete.target, {"volume_id": "vol-0a1b2c3d4e"})
    second = resolver.resolve(delete.target, {"volume_id": "vol-0de0de0de0"})

    # THEN the tags are the service's, each GET was signed with the assumed role's credentials,
    # and the identity exchange happened once, for the federation audience
    assert first == VOLUMES["vol-0a1b2c3d4e"]
    assert second == VOLUMES["vol-0de0de0de0"]
    assert VolumesStandIn.seen == [
        {
            "path": "/test/volumes/vol-0a1b2c3d4e",
            "key": ACCESS_KEY,
            "region": "eu-west-1",
            "token": SESSION_TOKEN,
        },
        {
            "path": "/test/volumes/vol-0de0de0de0",
            "key": ACCESS_KEY,
            "region": "eu-west-1",
            "token": SESSION_TOKEN,
        },
    ]
    assert entra.scopes == [f"{AUDIENCE}/.default"]
    sts[1].assert_no_pending_responses()


def test_an_unknown_target_resolves_to_nothing_so_the_policy_fails_closed(
    target_reader: Any, api: str, sts: tuple[Any, Stubber], catalog: Catalog
) -> None:
    resolver = resolver_for(target_reader, api, sts[0], catalog, EntraStandIn())
    spec = catalog["deleteVolume"].target
    assert spec is not None
    assert resolver.resolve(spec, {"volume_id": "vol-ffffffffff"}) is None  # the service's 404
    assert resolver.resolve(spec, {}) is None  # no id: nothing is even asked
    assert [s["path"] for s in VolumesStandIn.seen] == ["/test/volumes/vol-ffffffffff"]


def test_the_reader_calls_only_target_resolving_read_tools(
    target_reader: Any, api: str, catalog: Catalog
) -> None:
    transport = SigV4ApiGatewayTransport(api, region="eu-west-1", credentials=None)
    reader = target_reader.ApiToolReader(catalog, transport)
    assert set(reader.tools) == {"getVolume"}
    for name in ("deleteVolume", "listVolumes", "createRefund"):
        with pytest.raises(ToolNotAllowedError):
            reader(name, {"volume_id": "vol-0de0de0de0"})
    assert VolumesStandIn.seen == []  # refused before any request


def test_the_app_settings_choose_the_resolver(target_reader: Any, catalog: Catalog) -> None:
    entra = EntraStandIn()
    assert isinstance(target_reader.target_resolver_from_env({}, catalog, entra), NoTargetResolver)
    settings = {
        TARGET_READER_ROLE_ARN_ENV: ROLE_ARN,
        API_BASE_URL_ENV: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/dev",
        FEDERATION_AUDIENCE_ENV: AUDIENCE,
        "AWS_REGION": "eu-west-1",
    }
    resolver = target_reader.target_resolver_from_env(settings, catalog, entra)
    assert isinstance(resolver, ReadToolTargetResolver)
    assert entra.scopes == []  # credentials are fetched on first use, not when the worker starts
