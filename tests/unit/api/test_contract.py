"""openapi.json matches the app: every route, every error as a problem document, every input bounded."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.unit.api.fakes import REPO, documented_codes

SPEC: dict[str, Any] = json.loads((REPO / "openapi.json").read_text())
ROUTE = re.compile(r"""@_route\("([^"]+)", "([A-Z]+)"(, auth_level=func\.AuthLevel\.ANONYMOUS)?""")
KEYED = [(f"/{route}", method.lower()) for route, method, anonymous in ROUTE.findall(
    (REPO / "function_app.py").read_text()) if not anonymous]  # fmt: skip
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = SPEC["components"][kind][name]
    return node


def test_every_keyed_route_of_the_app_is_described():
    assert len(KEYED) >= 10
    missing = [(path, method) for path, method in KEYED if method not in SPEC["paths"].get(path, {})]
    assert not missing


@pytest.mark.parametrize(("path", "method"), KEYED)
def test_every_error_is_a_problem_document_with_documented_reasons(path, method):
    responses = SPEC["paths"][path][method]["responses"]
    assert {"401", "414", "431", "500", "503"} <= set(responses)
    for status, response in responses.items():
        if int(status) < 400 or (path == "/health/details" and status == "503"):
            continue  # the health report is the same document at 503, not an error
        resolved = resolve(response)
        schema = resolved["content"]["application/problem+json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Problem"}, (status, resolved)
        named = set(CODE.findall(resolved["description"]))
        assert named <= documented_codes(), (status, named - documented_codes())


def bounded(schema: dict[str, Any]) -> bool:
    """A string has a length cap, a pattern or an enum; an array a count cap and bounded items."""
    schema = resolve(schema)
    kinds = schema.get("type", "string" if "pattern" in schema or "maxLength" in schema else None)
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "enum" in schema:
        return True
    if "string" in kinds and "maxLength" not in schema and "pattern" not in schema:
        return False
    if "array" in kinds and ("maxItems" not in schema or not bounded(schema["items"])):
        return False
    return all(bounded(member) for member in schema.get("properties", {}).values())


@pytest.mark.parametrize(("path", "method"), KEYED)
def test_every_input_is_bounded(path, method):
    op = SPEC["paths"][path][method]
    for parameter in op.get("parameters", []):
        if parameter["in"] != "header":
            assert bounded(parameter["schema"]), parameter
    body = op.get("requestBody")
    if body is not None:
        assert bounded(body["content"]["application/json"]["schema"])
        assert "invalid_json" in body["description"]


DOCS = (REPO / "docs" / "api.md").read_text() + (REPO / "docs" / "webhooks.md").read_text()
MENTION = re.compile(r"`((?:[A-Z]+\|)*[A-Z]+) /api(/[^\s`?]*)")


def documented_operations() -> set[tuple[str, str]]:
    """(method, path) for every "`GET /api/...`" (or "`POST|GET /api/...`") in docs/api.md and docs/webhooks.md."""
    return {(method.lower(), path) for methods, path in MENTION.findall(DOCS) for method in methods.split("|")}


def test_the_api_docs_and_openapi_json_name_the_same_operations():
    described = {(method, path) for path, ops in SPEC["paths"].items() for method in ops if method != "parameters"}
    assert described == documented_operations()
