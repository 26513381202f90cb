"""The cloud transport: HTTPS to the REST API Gateway, signed with SigV4 for IAM authorization.

The API's methods use ``AWS_IAM`` auth, and only the executor's role may ``execute-api:Invoke`` them,
so a data service cannot be reached around the governance gate. Requests are signed with botocore's
own :class:`~botocore.auth.SigV4Auth` for the service ``execute-api`` (no hand-written signing) and
sent with urllib3 (already a botocore dependency, so nothing is added to the package). The tool
executor and the coordinator's target reader (with the target-reader role's credentials) both use it.
It retries nothing itself: a timeout or a 5xx is an outcome for the tool's circuit breaker, and the
refunds service is idempotent for the one retry SQS may make.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlencode, urlsplit

from agentcage.constants import API_BASE_URL_ENV
from agentcage.errors import ConfigurationError, TransportError
from agentcage.transport.service_calls import (
    MAX_RESPONSE_BYTES,
    ServiceRequest,
    ServiceResponse,
    decode_body,
)

if TYPE_CHECKING:
    import urllib3
    from botocore.credentials import Credentials

__all__ = ["EXECUTE_API", "SigV4ApiGatewayTransport", "region_from_url"]

EXECUTE_API: Final = "execute-api"
_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def region_from_url(url: str) -> str | None:
    """The region in an API Gateway invoke URL (``https://<id>.execute-api.<region>.amazonaws.com``)."""
    match = _API_HOST.match(urlsplit(url).hostname or "")
    return match["region"] if match else None


class SigV4ApiGatewayTransport:
    """Sends catalog operations to ``base_url`` (the stage's invoke URL) with IAM (SigV4) signatures.

    Settings: ``base_url`` (argument, then ``AGENTCAGE_API_BASE_URL``); ``region`` (argument, then the
    URL's region, then ``AWS_REGION``/``AWS_DEFAULT_REGION``); ``credentials`` (botocore credentials;
    by default the runtime's, refreshed by botocore when they rotate). Plain ``http`` is accepted
    only for a loopback host (a stand-in API in tests).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        region: str | None = None,
        credentials: Credentials | None = None,
        pool: urllib3.PoolManager | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        user_agent: str = "agentcage-tool-executor",
    ) -> None:
        url = (base_url or os.environ.get(API_BASE_URL_ENV) or "").rstrip("/")
        parts = urlsplit(url)
        if not parts.hostname or parts.scheme not in ("https", "http"):
            raise ConfigurationError(
                f"the API base URL must be an https URL ({API_BASE_URL_ENV}), not {url!r}"
            )
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ConfigurationError("the API base URL must use https outside a loopback test")
        self.base_url = url
        self.region: str = (
            region
            or region_from_url(url)
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or ""
        )
        if not self.region:
            raise ConfigurationError("no region to sign API Gateway requests for")
        self._credentials = credentials
        self._pool = pool
        self._connect_timeout = connect_timeout_s
        self._read_timeout = read_timeout_s
        self.user_agent = user_agent

    def _http(self) -> urllib3.PoolManager:
        if self._pool is None:
            import urllib3

            # No urllib3 retries and no redirects: one signed request, one outcome for the breaker.
            self._pool = urllib3.PoolManager(maxsize=10, retries=False)
        return self._pool

    def _frozen_credentials(self) -> Any:
        if self._credentials is None:
            import botocore.session

            self._credentials = botocore.session.get_session().get_credentials()
            if self._credentials is None:
                raise ConfigurationError("no AWS credentials to sign API Gateway requests with")
        return self._credentials.get_frozen_credentials()

    def url_for(self, request: ServiceRequest) -> str:
        """The full URL of ``request`` (query parameters sorted, RFC 3986 encoded)."""
        url = self.base_url + request.path
        if request.query:
            url += "?" + urlencode(sorted(request.query.items()), quote_via=quote)
        return url

    def sign(self, request: ServiceRequest) -> tuple[str, str, dict[str, str], bytes | None]:
        """``(method, url, headers, body)`` of ``request`` with the SigV4 headers added."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        body = (
            json.dumps(request.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            if request.body is not None
            else None
        )
        headers = {"Accept": "application/json", "User-Agent": self.user_agent, **request.headers}
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        aws_request = AWSRequest(method=request.method, url=self.url_for(request), data=body, headers=headers)
        SigV4Auth(self._frozen_credentials(), EXECUTE_API, self.region).add_auth(aws_request)
        prepared = aws_request.prepare()
        return prepared.method, prepared.url, dict(prepared.headers.items()), body

    def send(self, request: ServiceRequest) -> ServiceResponse:
        """Sign and send ``request``; :class:`TransportError` when no complete answer came back."""
        import urllib3

        method, url, headers, body = self.sign(request)
        started = time.perf_counter()
        try:
            response = self._http().request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
            finally:
                response.release_conn()
        except urllib3.exceptions.TimeoutError as error:
            raise TransportError(
                f"{request.operation} timed out: {error}", details={"timeout": True}
            ) from error
        except urllib3.exceptions.HTTPError as error:
            raise TransportError(f"{request.operation} could not be reached: {error}") from error
        latency = (time.perf_counter() - started) * 1000
        response_headers = {key.lower(): value for key, value in response.headers.items()}
        return ServiceResponse(
            status=response.status,
            body=decode_body(raw, response_headers.get("content-type")),
            headers=response_headers,
            latency_ms=latency,
        )
