"""Lambda ``volumes``: the janitor's tools, ``listVolumes``, ``getVolume`` and ``deleteVolume``.

Deleting is destructive: the governance gate (not this service) forbids it on production-like tags
and requires an approval; the service only guarantees a volume is deleted once (a second delete, or
a read after it, is 404) and keeps the record, marked ``deleted``, for the audit trail.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from agentcage.constants import LOG_LEVEL_ENV
from agentcage.errors import InvalidInputError
from functions.aws.services.api import build_resolver, path_id, query_str, serve
from functions.aws.services.dependencies import domain_repository
from functions.aws.services.models import VOLUME_ID_PATTERN, Volume

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["app", "handler"]

logger = Logger(service="volumes", level=os.environ.get(LOG_LEVEL_ENV))
app = build_resolver(logger)


def _public(volume: Volume) -> dict[str, Any]:
    return volume.model_dump(mode="json", exclude={"deleted_at"})


@app.get("/volumes")
def list_volumes() -> dict[str, Any]:
    """Live volumes, optionally those with one tag (``tag_key``, and ``tag_value`` to match its value)."""
    tag_key = query_str(app, "tag_key", max_length=128)
    tag_value = query_str(app, "tag_value", max_length=256)
    if tag_value is not None and tag_key is None:
        raise InvalidInputError("tag_value needs tag_key", details={"parameter": "tag_value"})
    volumes = domain_repository().list_volumes(tag_key, tag_value)
    return {"volumes": [_public(volume) for volume in volumes]}


@app.get("/volumes/<volume_id>")
def get_volume(volume_id: str) -> dict[str, Any]:
    """One live volume with its tags."""
    return _public(domain_repository().get_volume(path_id(volume_id, VOLUME_ID_PATTERN, "volume_id")))


@app.delete("/volumes/<volume_id>")
def delete_volume(volume_id: str) -> dict[str, Any]:
    """Delete a live volume (404 if unknown or already deleted)."""
    volume_id = path_id(volume_id, VOLUME_ID_PATTERN, "volume_id")
    domain_repository().delete_volume(volume_id)
    logger.info("volume deleted", extra={"volume_id": volume_id})
    return {"volume_id": volume_id, "deleted": True}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point (``functions.aws.services.volumes.handler``)."""
    return serve(app, logger, event, context)
