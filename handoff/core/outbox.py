"""Per-conversation outbox: every message for a customer, in order, with an id.

A Redis Stream per conversation (``handoff:outbox:{id}``). Whoever holds the
customer's socket reads from it: the widget acknowledges the last id it showed
and, after a reconnect or a page reload, asks for what came after. Each append is
announced on a pub/sub channel, which wakes the process's delivery hub
(:mod:`handoff.core.delivery_hub`) instead of one blocking read per socket. Messages are
never lost between instances because nothing is kept in process memory.

The bot's web-widget channel imports this module, so it depends only on
``redis.asyncio`` and :mod:`handoff.core.keys`. Needs Redis >= 6.2 (exclusive XRANGE).

A message is a dict::

    {"sender": "bot" | "csr" | "system", "text": str, "timestamp": float,
     "buttons": [{"title": str, "payload": str}, ...],   # optional
     "agent": str,                                         # optional, CSR display name
     ...}                                                  # other JSON keys pass through
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from redis.asyncio import Redis

from handoff.core import keys
from handoff.core.errors import InvalidInput

SENDERS = ("bot", "csr", "system")
DEFAULT_MAXLEN = 1000
DEFAULT_TTL_SECONDS = 7 * 24 * 3600

# A stream id's two parts are unsigned 64-bit integers (ASCII digits only: \d would take any
# script's digits, and $ a trailing newline, which Redis refuses with an error).
_STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")
_MAX_PART = 2**64 - 1

Entry = Tuple[str, Dict[str, Any]]


class InvalidMessage(InvalidInput, ValueError):
    """The message cannot be put in an outbox."""


class InvalidMessageId(InvalidInput, ValueError):
    """The id a client acknowledged is not a stream id."""


class Outbox:
    """Append to and read from conversation outboxes.

    Args:
        redis: An asyncio Redis client (``decode_responses`` may be on or off).
        maxlen: Roughly how many messages to keep per conversation.
        ttl_seconds: How long an idle outbox is kept.
    """

    def __init__(
        self, redis: Redis, maxlen: int = DEFAULT_MAXLEN, ttl_seconds: int = DEFAULT_TTL_SECONDS
    ):
        """Create an outbox over one Redis client."""
        self._redis = redis
        self._maxlen = maxlen
        self._ttl = ttl_seconds

    async def append(self, conv_id: str, message: Mapping[str, Any]) -> str:
        """Add a message for the customer and return its stream id.

        The same transaction publishes on ``keys.outbox_appended(conv_id)``, so every
        delivery hub holding this customer's socket reads the new entry at once.

        Raises:
            InvalidMessage: the message lacks a valid sender or text.
        """
        body = normalize_message(message)
        key = keys.outbox(conv_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, {"message": json.dumps(body)}, maxlen=self._maxlen, approximate=True)
            pipe.expire(key, self._ttl)
            pipe.publish(keys.outbox_appended(conv_id), "")
            stream_id, _, _ = await pipe.execute()
        return stream_id

    async def read_after(
        self, conv_id: str, last_id: Optional[str] = None, count: int = 100
    ) -> List[Entry]:
        """Messages strictly after ``last_id`` (all of them when it is None), oldest first.

        Raises:
            InvalidMessageId: ``last_id`` is not a stream id.
        """
        [entries] = await self.read_many([(conv_id, last_id)], count=count)
        return entries

    async def read_many(
        self, cursors: Sequence[Tuple[str, Optional[str]]], count: int = 100
    ) -> List[List[Entry]]:
        """:meth:`read_after` for many ``(conv_id, last_id)`` pairs in one round trip.

        One pipeline on one pooled connection, however many conversations: the delivery
        hub reads for every open socket of a process this way.

        Raises:
            InvalidMessageId: a ``last_id`` is not a stream id.
        """
        starts = [_range_start(last_id) for _, last_id in cursors]
        async with self._redis.pipeline(transaction=False) as pipe:
            for (conv_id, _), start in zip(cursors, starts, strict=True):
                if start is not None:
                    pipe.xrange(keys.outbox(conv_id), min=start, max="+", count=count)
            replies = iter(await pipe.execute())
        return [
            [] if start is None else [_entry(i, fields) for i, fields in next(replies)]
            for start in starts
        ]

    async def signal(self, conv_id: str, notice: Mapping[str, Any]) -> int:
        """Publish an ephemeral notice (e.g. ``{"type": "typing"}``) to the customer's channel.

        Notices are not stored: a widget that is not listening simply misses them.

        Returns:
            How many subscribers received it.
        """
        return await self._redis.publish(keys.signals(conv_id), json.dumps(dict(notice)))


def normalize_message(message: Mapping[str, Any]) -> Dict[str, Any]:
    """Check a message and fill in its timestamp.

    Raises:
        InvalidMessage: sender, text, buttons or agent have the wrong shape.
    """
    if not isinstance(message, Mapping):
        raise InvalidMessage("a message must be a JSON object")
    body = dict(message)
    if body.get("sender") not in SENDERS:
        raise InvalidMessage(f"sender must be one of {', '.join(SENDERS)}")
    if not isinstance(body.get("text"), str):
        raise InvalidMessage("text must be a string")
    if "buttons" in body and not _valid_buttons(body["buttons"]):
        raise InvalidMessage("buttons must be a list of {title, payload} strings")
    if "agent" in body and not isinstance(body["agent"], str):
        raise InvalidMessage("agent must be a string")
    body.setdefault("timestamp", time.time())
    try:
        json.dumps(body)
    except (TypeError, ValueError) as exc:
        raise InvalidMessage(f"message is not JSON-serialisable: {exc}") from exc
    return body


def _valid_buttons(buttons: Any) -> bool:
    return isinstance(buttons, list) and all(
        isinstance(b, Mapping)
        and isinstance(b.get("title"), str)
        and isinstance(b.get("payload"), str)
        for b in buttons
    )


def check_message_id(value: Any) -> str:
    """``value`` if it is a stream id Redis accepts (``1716543210123-0``, or just the time).

    Raises:
        InvalidMessageId: anything else, e.g. a part beyond 2**64 - 1.
    """
    if (
        not isinstance(value, str)
        or not _STREAM_ID.fullmatch(value)
        or any(int(part) > _MAX_PART for part in value.split("-"))
    ):
        shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
        raise InvalidMessageId(f"`after` must be a message id from this API, not {shown}")
    return value


def _range_start(last_id: Optional[str]) -> Optional[str]:
    """XRANGE's exclusive start after ``last_id``; None when nothing can follow it.

    Redis refuses the last possible id as an exclusive start, and no entry follows it.
    """
    if last_id is None:
        return "-"
    if _is_last_possible(check_message_id(last_id)):
        return None
    return "(" + last_id


def _is_last_possible(value: str) -> bool:
    return [int(part) for part in value.split("-")] == [_MAX_PART, _MAX_PART]


def _entry(entry_id: Any, fields: Mapping[Any, Any]) -> Entry:
    raw = fields.get("message", fields.get(b"message"))
    return entry_id, json.loads(raw)
