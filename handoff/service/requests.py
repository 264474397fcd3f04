"""Reading what a request carries, shared by the CSR routes and the admin routes."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from sanic import Request

from handoff.core import errors


def json_body(request: Request) -> Dict[str, Any]:
    """The body as a JSON object (``{}`` when empty).

    Raises:
        InvalidInput: the body is not JSON, or not an object.
    """
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidInput(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.InvalidInput("request body must be a JSON object")
    return body


def bearer_token(request: Request) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
