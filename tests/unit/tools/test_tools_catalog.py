"""The OpenAPI catalog: loading, effects, extensions, and errors that name where the problem is."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentcage.errors import CatalogError, UnknownToolError
from agentcage.tools import Catalog, data_directory, effect_of, parse_document, to_json_schema, tools_of

CATALOG_DIR = Path(__file__).resolve().parents[3] / "shared" / "catalog"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_directory(CATALOG_DIR)


def _document(**operation: Any) -> dict[str, Any]:
    op = {"operationId": "doThing", "responses": {"200": {"description": "ok"}}, **operation}
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "x-agentcage-service": "things",
        "paths": {"/things": {"post": op}},
    }


@pytest.mark.parametrize(
    ("tool", "effect", "data_classes", "egress", "cost"),
    [
        ("getCustomer", "read", {"pii"}, False, 1),
        ("listRecentOrders", "read", set(), False, 1),
        ("assessReturnException", "read", set(), False, 2),  # a POST overridden to read
        ("createRefund", "write", {"financial"}, False, 5),
        ("negotiateVendorTerms", "read", set(), True, 3),
        ("listVolumes", "read", set(), False, 1),
        ("getVolume", "read", set(), False, 1),
        ("deleteVolume", "destructive", set(), False, 2),
    ],
)
def test_shipped_catalog_tools_carry_their_effect_and_extensions(
    catalog: Catalog, tool: str, effect: str, data_classes: set[str], egress: bool, cost: int
) -> None:
    found = catalog.tool(tool)
    assert (found.effect, set(found.data_classes), found.egress, found.cost) == (
        effect,
        data_classes,
        egress,
        cost,
    )


def test_destructive_tool_exposes_its_target_spec(catalog: Catalog) -> None:
    target = catalog["deleteVolume"].target
    assert target is not None
    assert (target.id_argument, target.resolve_with, target.tags_field) == ("volume_id", "getVolume", "tags")
    assert catalog["getVolume"].target is None


@pytest.mark.parametrize(
    ("method", "effect"),
    [("GET", "read"), ("post", "write"), ("PUT", "write"), ("patch", "write"), ("DELETE", "destructive")],
)
def test_effect_follows_the_http_method_unless_overridden(method: str, effect: str) -> None:
    assert effect_of(method) == effect
    assert effect_of(method, "read") == "read"


def test_shipped_catalog_is_valid_openapi() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    for file in sorted(CATALOG_DIR.glob("*.openapi.yaml")):
        validator.validate(yaml.safe_load(file.read_text()))


def test_unknown_tool_raises_unknown_tool_error(catalog: Catalog) -> None:
    with pytest.raises(UnknownToolError) as caught:
        catalog.tool("dropDatabase")
    assert caught.value.code == "unknown_tool"


def test_invalid_extension_fails_with_the_path_of_the_problem() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_document(_document(**{"x-agentcage-effect": "explode"}), source="bad.yaml")
    assert "bad.yaml: paths./things.post.x-agentcage-effect" in caught.value.message


def test_missing_operation_id_names_the_operation() -> None:
    document = _document()
    del document["paths"]["/things"]["post"]["operationId"]
    with pytest.raises(CatalogError, match=r"paths\./things\.post\.operationId"):
        parse_document(document)


def test_dangling_reference_is_reported() -> None:
    document = _document(
        requestBody={"content": {"application/json": {"schema": {"$ref": "#/components/x"}}}}
    )
    with pytest.raises(CatalogError, match="points at nothing"):
        parse_document(document)


def test_recursive_reference_is_refused() -> None:
    document = _document(
        requestBody={"content": {"application/json": {"schema": {"$ref": "#/components/n"}}}}
    )
    document["components"] = {"n": {"type": "object", "properties": {"next": {"$ref": "#/components/n"}}}}
    with pytest.raises(CatalogError, match="recursive"):
        parse_document(document)


def test_path_template_must_match_path_parameters() -> None:
    document = _document()
    document["paths"] = {"/things/{id}": document["paths"]["/things"]}
    with pytest.raises(CatalogError, match="path template"):
        tools_of(parse_document(document))


def test_header_parameters_are_refused() -> None:
    document = _document(parameters=[{"name": "X-Key", "in": "header", "schema": {"type": "string"}}])
    with pytest.raises(CatalogError, match=r"parameters\[0\]\.in"):
        parse_document(document)


def test_duplicate_operation_ids_across_documents_fail(catalog: Catalog) -> None:
    tool = catalog["getCustomer"]
    with pytest.raises(CatalogError, match="defined twice"):
        Catalog([tool, tool])


def test_target_must_resolve_with_a_read_tool_of_the_catalog() -> None:
    target = {"id_argument": "id", "resolve_with": "nope"}
    document = _document(
        **{"x-agentcage-target": target},
        parameters=[{"name": "id", "in": "query", "required": True, "schema": {"type": "string"}}],
    )
    with pytest.raises(CatalogError, match="resolve_with"):
        Catalog(tools_of(parse_document(document)))


def test_nullable_becomes_a_type_union_and_openapi_keywords_go() -> None:
    schema = {"type": "string", "nullable": True, "example": "x", "enum": ["a"], "x-internal": 1}
    assert to_json_schema(schema) == {"type": ["string", "null"], "enum": ["a", None]}


def test_data_directory_prefers_argument_then_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOME_DIR_ENV", str(tmp_path / "env"))
    assert data_directory(tmp_path / "arg", "SOME_DIR_ENV", "catalog") == tmp_path / "arg"
    assert data_directory(None, "SOME_DIR_ENV", "catalog") == tmp_path / "env"
    monkeypatch.delenv("SOME_DIR_ENV")
    assert data_directory(None, "SOME_DIR_ENV", "catalog") == CATALOG_DIR


def test_resolution_does_not_mutate_the_input() -> None:
    document = _document(
        requestBody={"content": {"application/json": {"schema": {"$ref": "#/components/b"}}}}
    )
    document["components"] = {"b": {"type": "object", "properties": {"a": {"type": "string"}}}}
    before = copy.deepcopy(document)
    parse_document(document)
    assert document == before
