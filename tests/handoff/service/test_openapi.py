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
