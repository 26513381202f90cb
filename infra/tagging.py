"""One stack transformation puts ``project`` and ``environment`` on every taggable resource.

A resource is taggable when its provider SDK declares a ``tags`` input. The shape comes from that
input's declared type: most AWS and azure-native resources take a map; Log Analytics saved searches
take ``[{name, value}]``; Entra (azuread) objects take a list of strings, so they get
``project:agentcage`` style entries. Tags a component sets explicitly are kept; these two keys always
win, so no resource can claim another project or environment.

This uses ``pulumi.runtime.register_stack_transformation`` (the SDK-side form) deliberately: it runs
in this process for every resource registered after it, which is what the mock-based tests observe.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pulumi

__all__ = ["TagShape", "tag_shape", "merge_tags", "tag_transformation", "register_tags"]

TagShape = Literal["map", "pairs", "strings"]


def tag_shape(resource_class: type) -> TagShape | None:
    """How ``resource_class`` takes its ``tags`` input, read from the SDK's declared type (None: no tags)."""
    init = getattr(resource_class, "_internal_init", None)
    if init is None:
        return None
    parameter = inspect.signature(init).parameters.get("tags")
    if parameter is None:
        return None
    declared = str(parameter.annotation)
    if declared.startswith("typing.Union[typing.Mapping[str"):
        return "map"
    if "TagArgs" in declared:
        return "pairs"
    if declared.startswith("typing.Union[typing.Sequence[typing.Union[str"):
        return "strings"
    raise TypeError(f"{resource_class.__name__}: unrecognised tags type {declared[:120]}")


def merge_tags(shape: TagShape, existing: Any, tags: Mapping[str, str]) -> Any:
    """``existing`` tags with ``tags`` added, in the given shape; ``tags`` win on a clash."""
    if shape == "strings":
        keep = [t for t in (existing or []) if not any(str(t).startswith(f"{k}:") for k in tags)]
        return sorted({*keep, *(f"{key}:{value}" for key, value in tags.items())})
    if shape == "pairs":
        pairs = {str(p["name"]): str(p["value"]) for p in (existing or [])}
        return [{"name": key, "value": value} for key, value in sorted({**pairs, **tags}.items())]
    return {**dict(existing or {}), **tags}


def tag_transformation(
    tags: Mapping[str, str],
) -> Callable[[pulumi.ResourceTransformationArgs], pulumi.ResourceTransformationResult | None]:
    """A transformation adding ``tags`` to every resource whose inputs include ``tags``."""
    frozen = dict(tags)

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        shape = tag_shape(type(args.resource)) if "tags" in args.props else None
        if shape is None:
            return None  # not taggable (components, role assignments, IAM policies...)
        props = dict(args.props)
        current = props.get("tags")
        if isinstance(current, pulumi.Output):
            props["tags"] = current.apply(lambda value: merge_tags(shape, value, frozen))
        else:
            props["tags"] = merge_tags(shape, current, frozen)
        return pulumi.ResourceTransformationResult(props, args.opts)

    return transform


def register_tags(tags: Mapping[str, str]) -> None:
    """Register the tag transformation for every resource created after this call."""
    pulumi.runtime.register_stack_transformation(tag_transformation(tags))
