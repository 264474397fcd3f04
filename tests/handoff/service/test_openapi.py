"""The OpenAPI document describes exactly the routes the app serves."""

from __future__ import annotations

from handoff.core.settings import REPO_ROOT, from_mapping
from handoff.service.app import create_app
from tests.support import openapi
from tests.support.auth import SECRET

DOC = REPO_ROOT / "docs" / "handoff-api.openapi.yaml"


def served_routes():
    app = create_app(from_mapping({"secret": SECRET}))
    pairs = set()
    for route in app.router.routes:
        pairs |= openapi.as_routes("/" + route.path, route.methods)
    return pairs


def test_every_route_is_documented_and_nothing_else():
    doc = openapi.load(DOC)
    assert doc["openapi"].startswith("3.0")
    assert openapi.documented_routes(doc) == served_routes()


def test_every_reference_resolves():
    assert openapi.unresolved_references(DOC) == []


def codes_named(node):
    """Every error code a response narrows ``error.code`` to (``enum`` under ``code``)."""
    found = set()
    if isinstance(node, dict):
        code = (
            node.get("properties", {}).get("code")
            if isinstance(node.get("properties"), dict)
            else None
        )
        if isinstance(code, dict) and isinstance(code.get("enum"), list):
            found |= set(code["enum"])
        for value in node.values():
            found |= codes_named(value)
    elif isinstance(node, list):
        for value in node:
            found |= codes_named(value)
    return found


def test_every_code_a_response_names_is_a_code_of_the_error_body():
    # A response is `allOf: [Error, {code: enum [...]}]`: a code missing from Error's own
    # enum can never validate (the fuzz found invalid_inbound_key so).
    doc = openapi.load(DOC)
    error_codes = set(
        doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    )
    assert codes_named(doc["paths"]) - error_codes == set()
    assert codes_named(doc["components"]["schemas"]) - error_codes == set()
