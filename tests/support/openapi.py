"""Reading the product's OpenAPI documents, for the tests that hold them to the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Set, Tuple

import yaml

METHODS = ("get", "post", "put", "patch", "delete")
_PARAMETER = re.compile(r"<(\w+):\w+>")

Route = Tuple[str, str]


def load(path: Path) -> Dict[str, Any]:
    return yaml.safe_load(path.read_text())


def documented_routes(doc: Dict[str, Any]) -> Set[Route]:
    """(path, method) of every operation the document describes."""
    return {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def as_routes(uri: str, methods: Iterable[str]) -> Set[Route]:
    """A Sanic route (``/a/<id:str>``) in the document's terms (``/a/{id}``)."""
    path = _PARAMETER.sub(r"{\1}", uri)
    return {(path, m.lower()) for m in methods if m not in ("HEAD", "OPTIONS")}


def unresolved_references(path: Path) -> List[str]:
    """Every ``$ref`` of the document that names nothing in it."""
    doc, missing = load(path), []
    for ref in sorted(set(re.findall(r'\$ref: "#/([^"]+)"', path.read_text()))):
        node: Any = doc
        for part in ref.split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if not node:
            missing.append(ref)
    return missing
