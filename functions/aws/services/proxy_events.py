"""Build an API Gateway REST proxy event, to call a data service in-process as API Gateway would.

The local runtime and the executor's in-process transport use this instead of HTTP; the shape is
the documented Lambda proxy integration input (``resource``, ``path``, ``httpMethod``, ``headers``
and ``multiValueHeaders``, ``queryStringParameters`` and their multi-value form, ``pathParameters``,
``stageVariables``, ``requestContext``, ``body``, ``isBase64Encoded``), as in ``tests/events/apigw_*.json``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["build_proxy_event"]

_TEMPLATE_PARAMETER = re.compile(r"\{(\w+)\}")


def build_proxy_event(
    method: str,
    resource: str,
    *,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    stage: str = "local",
    caller_arn: str | None = None,
) -> dict[str, Any]:
    """A REST proxy event for ``method resource`` (``resource`` is the catalog path template).

    A ``body`` that is not a string is sent as JSON with ``Content-Type: application/json``.
    """
    parameters = dict(path_parameters or {})
    path = _TEMPLATE_PARAMETER.sub(lambda match: parameters[match.group(1)], resource)
    all_headers = dict(headers or {})
    if body is not None and not isinstance(body, str):
        body = json.dumps(body, separators=(",", ":"))
        all_headers.setdefault("Content-Type", "application/json")
    now = time.time()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": all_headers or None,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()} or None,
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {name: [value] for name, value in query.items()}
        if query
        else None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method.upper(),
            "extendedRequestId": uuid.uuid4().hex,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{stage}{path}",
            "accountId": "000000000000",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "local",
            "requestTimeEpoch": int(now * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                "caller": caller_arn,
                "userArn": caller_arn,
                "sourceIp": "127.0.0.1",
                "userAgent": "agentcage",
            },
            "domainName": "localhost",
            "apiId": "local",
        },
        "body": body,
        "isBase64Encoded": False,
    }
