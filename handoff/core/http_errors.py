"""The one mapping from errors to HTTP responses, used by both Sanic apps.

The handoff service (:mod:`handoff.service.routes`) and the widget channel
(:mod:`bot.channel.widget`) answer every failure with the same body,
``{"error": {"code", "message"}}``, and the same status for the same error. The
table is written against the groups of :mod:`handoff.core.errors`, so an error's
parent decides its status. It is plain data on purpose: no web framework here, each
app only wraps the result in its own response object.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError as RedisReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from handoff.core import errors

logger = logging.getLogger(__name__)

# Looked up along the class hierarchy: ClaimConflict (an InvalidTransition, a Conflict) is 409.
STATUS: Dict[type, int] = {
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.UpgradeRequired: 426,
    errors.InvalidInput: 400,
    errors.AuthError: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooManyRequests: 429,
    errors.UpstreamError: 502,
    errors.Unavailable: 503,
}

# Every way a Redis outage shows: refused or lost connections (with Sentinel also
# MasterNotFoundError; BusyLoadingError while a restarted server loads its data), replies
# that never came, and writes a demoted primary refuses in the middle of a failover.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, RedisReadOnlyError)
# Seconds a client waits before trying again: a restart or a Sentinel failover takes a few.
REDIS_RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True)
class HttpError:
    """What a client receives for one failure."""

    status: int
    code: str
    message: str
    headers: Dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> Dict[str, Any]:
        """The one error shape of every API of the product."""
        return {"error": {"code": self.code, "message": self.message}}


def check_websocket_handshake(headers: Mapping[str, str]) -> None:
    """Refuse a request to a WebSocket route that is not a WebSocket handshake.

    Both apps call it before Sanic's own handshake, which answers anything else with a
    500 (``Failed to open a WebSocket connection``).

    Args:
        headers: The request's headers (case-insensitive, like Sanic's).

    Raises:
        UpgradeRequired: a plain HTTP request (426, ``Upgrade: websocket`` in the answer).
        InvalidInput: ``invalid_handshake``, an upgrade without a valid key or version 13.
    """
    upgrade = {part.strip().lower() for part in (headers.get("upgrade") or "").split(",")}
    connection = {part.strip().lower() for part in (headers.get("connection") or "").split(",")}
    if "websocket" not in upgrade or "upgrade" not in connection:
        raise errors.UpgradeRequired(
            "this is a WebSocket: connect with a WebSocket client (Upgrade: websocket)"
        )
    try:
        key = base64.b64decode(headers.get("sec-websocket-key") or "", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 16 or (headers.get("sec-websocket-version") or "").strip() != "13":
        raise errors.InvalidInput(
            "not a WebSocket handshake: Sec-WebSocket-Key (16 bytes, base64) and "
            "Sec-WebSocket-Version: 13 are required",
            code="invalid_handshake",
        )


def status_of(exc: errors.DomainError) -> int:
    """The HTTP status of a domain error (500 for a group the table does not know)."""
    return next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 500)


def http_error(exc: BaseException, where: str = "") -> HttpError:
    """The response for ``exc``; never a traceback, and a log line for what is our fault.

    Args:
        exc: What the handler raised.
        where: The request, for the log (``"POST /api/..."``).
    """
    if isinstance(exc, errors.DomainError):
        status = status_of(exc)
        if status >= 500:
            logger.warning("%s failed: %s", where, exc)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        if isinstance(exc, errors.UpgradeRequired):
            headers["Upgrade"] = "websocket"  # RFC 9110: a 426 names the protocol to switch to
        return HttpError(status, exc.code, exc.message, headers)
    if isinstance(exc, REDIS_DOWN):
        # A temporary condition, not a bug.
        logger.error("Redis unavailable during %s: %s", where, exc)
        return HttpError(
            503,
            "redis_unavailable",
            "storage is temporarily unavailable; retry shortly",
            {"Retry-After": str(REDIS_RETRY_AFTER_SECONDS)},
        )
    logger.error("unhandled error in %s", where, exc_info=exc)
    return HttpError(500, "internal_error", "something went wrong on our side; it is logged")
