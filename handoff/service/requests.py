"""Reading what a request carries, shared by the CSR routes and the admin routes."""

from __future__ import annotations

import datetime as dt
import json
import math
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


def query_time(value: Optional[str], name: str) -> Optional[float]:
    """The time in query argument ``name``: epoch seconds, or ISO 8601 (no offset: UTC).

    Returns:
        Epoch seconds, or None when the argument is absent or empty.

    Raises:
        InvalidInput: neither a finite number nor an ISO 8601 time.
    """
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        # "nan" and "inf" parse too: NaN broke the Redis query (500), infinity the JSON answer.
        if not math.isfinite(number):
            raise errors.InvalidInput(f"`{name}` must be epoch seconds or an ISO 8601 time")
        return number
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise errors.InvalidInput(f"`{name}` must be epoch seconds or an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()
