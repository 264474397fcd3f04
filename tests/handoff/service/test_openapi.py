"""The OpenAPI document describes exactly the routes the app serves."""

from __future__ import annotations

import re

import yaml

from handoff.core.settings import REPO_ROOT, from_mapping
from handoff.service.app import create_app
from tests.support.auth import SECRET

DOC = REPO_ROOT / "docs" / "handoff-api.openapi.yaml"


def served_routes():
    app = create_app(from_mapping({"secret": SECRET}))
    pairs = set()
    for route in app.router.routes:
        path = "/" + re.sub(r"<(\w+):\w+>", r"{\1}", route.path)
        pairs |= {
            (path, method.lower()) for method in route.methods if method not in ("HEAD", "OPTIONS")
        }
    return pairs


def documented_routes(doc):
    return {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_route_is_documented_and_nothing_else():
    doc = yaml.safe_load(DOC.read_text())
    assert doc["openapi"].startswith("3.0")
    assert documented_routes(doc) == served_routes()


def test_every_reference_resolves():
    doc = yaml.safe_load(DOC.read_text())
    text = DOC.read_text()
    for ref in set(re.findall(r'\$ref: "#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            node = node[part]
        assert node, ref
