"""Team away mode: an admin says nobody can take chats now, whatever the business hours say.

While the team is away, the bot offers a ticket instead of the live queue (as it does out
of hours; ``actions/handoff.py``), the consoles show a banner, and the change is a
lifecycle event (``team.away`` / ``team.back``) for the live feed and the webhooks. The
mode is one hash, ``handoff:availability``; it stays until an admin clears it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional

from redis.asyncio import Redis
from redis.exceptions import WatchError

from handoff.core import events, keys
from handoff.core.text_rules import check_text

MAX_MESSAGE_CHARS = 500
DEFAULT_MESSAGE = "Our support team is away right now."


class Availability:
    """Whether the team is away, and who said so.

    Args:
        redis: An asyncio Redis client with decoded replies.
        clock: Returns the current epoch time.
    """

    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time):
        """Keep the client; nothing is read yet."""
        self._redis = redis
        self._clock = clock

    async def away(self) -> Optional[Dict[str, Any]]:
        """``{by, message, since}`` while the team is away, else None."""
        record = await self._redis.hgetall(keys.AVAILABILITY)
        if not record:
            return None
        return {
            "by": record.get("by") or "",
            "message": record.get("message") or DEFAULT_MESSAGE,
            "since": float(record.get("since") or 0),
        }

    async def set_away(self, by: str, message: Any = None) -> Dict[str, Any]:
        """Put the team away (or change the message while away); return the new state.

        Args:
            by: Username of the admin.
            message: What customers are told (default :data:`DEFAULT_MESSAGE`).

        Raises:
            InvalidInput: the message is not text, too long, or holds control characters.
        """
        if message is None or (isinstance(message, str) and not message.strip()):
            message = DEFAULT_MESSAGE
        message = check_text(message, "message", max_chars=MAX_MESSAGE_CHARS).strip()
        current = await self.away()
        now = self._clock()
        since = current["since"] if current else now
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.AVAILABILITY, mapping={"by": by, "message": message, "since": since})
            events.publish(
                pipe, {"type": "team.away", "by": by, "message": message, "since": since, "at": now}
            )
            await pipe.execute()
        return {"by": by, "message": message, "since": since}

    async def clear(self, by: str) -> bool:
        """The team is back. Returns whether it was away (no event when it was not)."""
        now = self._clock()
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(keys.AVAILABILITY)
            if not await pipe.exists(keys.AVAILABILITY):
                await pipe.reset()
                return False
            pipe.multi()
            pipe.delete(keys.AVAILABILITY)
            events.publish(pipe, {"type": "team.back", "by": by, "at": now})
            try:
                await pipe.execute()
            except WatchError:  # changed just now: decide again on fresh data
                return await self.clear(by)
        return True
